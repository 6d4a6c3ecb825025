"""One frozen, typed configuration, loaded at the edge and passed down.

Precedence, lowest first: built-in defaults < ``--config`` TOML file < ``RAG_*`` environment
variables < command-line flags. ``sections`` holds the settings classes, ``loading`` builds them
(the only code that reads ``os.environ``), ``validation`` checks them.
"""

from ragcli.config.loading import default_cache_dir, default_index_dir, describe_settings, load_settings
from ragcli.config.sections import (
    SECTIONS, AnswerSettings, ChatSettings, ChunkingSettings, EmbeddingSettings, GenerationSettings, IndexSettings,
    IngestSettings, ParsingSettings, RerankingSettings, RetrievalSettings, Settings, VerificationSettings,
    WatchSettings,
)

__all__ = [
    "SECTIONS", "AnswerSettings", "ChatSettings", "ChunkingSettings", "EmbeddingSettings", "GenerationSettings",
    "IndexSettings", "IngestSettings", "ParsingSettings", "RerankingSettings", "RetrievalSettings", "Settings", "VerificationSettings",
    "WatchSettings", "default_cache_dir", "default_index_dir", "describe_settings", "load_settings",
]
