"""One frozen, typed configuration, loaded at the edge and passed down.

Precedence, lowest first: built-in defaults < ``--config`` TOML file <
``RAG_*`` environment variables < command-line flags. This is the only module
that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ragcli.errors import ConfigError

# The kinds of document the catalog records (what --type accepts).
DOCUMENT_TYPES = ("pdf", "html", "md", "txt")


def _user_dir(environ: Mapping[str, str], env_name: str, fallback: str) -> Path:
    base = environ.get(env_name)
    return Path(base).expanduser() if base else Path.home() / fallback


@dataclass(frozen=True)
class IndexSettings:
    # Empty means "the per-user data directory"; resolved in load_settings.
    dir: str = ""
    # Vector backend: "faiss" (exact inner product), or "numpy" (the reference fake).
    vectors: str = "faiss"
    # FAISS only: from this many chunks on, an approximate IVF index with 8-bit scalar
    # quantization replaces exact search (a quarter of the memory, a fraction of the time).
    ann_threshold: int = 200_000
    # IVF cells; 0 picks about 2 * sqrt(chunks).
    ann_lists: int = 0
    # IVF cells visited per query: more is slower and closer to exact search.
    nprobe: int = 48
    # Memory-map the saved approximate index instead of reading it into memory.
    mmap: bool = True


@dataclass(frozen=True)
class ChunkingSettings:
    # Measured in the embedder's own tokens; clamped to the embedder's window.
    tokens: int = 200
    overlap: int = 32


@dataclass(frozen=True)
class EmbeddingSettings:
    model: str = "all-minilm-l6-v2"
    batch_size: int = 32
    device: str = "cpu"
    # "onnx" (ONNX Runtime, no torch on the query path; exported once into cache_dir) or "torch".
    backend: str = "onnx"
    # ONNX only: "fp32" (same vectors as torch) or "int8" (dynamic quantization; needs its own index).
    precision: str = "fp32"
    # ONNX Runtime threads; 0 lets it use every core.
    threads: int = 0


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 5
    # Candidates pulled from each of the dense and lexical lists before fusion.
    candidates: int = 50
    lexical: bool = True
    dense_weight: float = 1.0
    # Keyword evidence (exact option names, error codes) counts more than the dense match: on the dev
    # set 1.5 beat 1.0 on both corpora (benchmarks/RESULTS.md).
    lexical_weight: float = 1.5
    # BM25 weight of a chunk's title/heading line against its text (1.0). Headings name what a
    # section is about; 1.0-2.0 is a plateau on the dev set once PDF headings follow the bookmarks.
    heading_weight: float = 1.5
    rrf_k: int = 60
    max_per_page: int = 2
    # `ask` abstains without calling the model when no passage is at least this similar (cosine).
    min_similarity: float = 0.0
    # `ask` abstains when the question names something (GitLab, WebP) that no indexed chunk mentions.
    unknown_names: bool = True
    # Adjacent chunks of one document that are both hit come back as one passage.
    merge_adjacent: bool = True
    # Chunks added on each side of a hit for context (0: none).
    neighbours: int = 0
    # A shorter passage (a title or synopsis line) continues with the chunks after it on its page.
    min_passage_chars: int = 200
    # Search only documents whose path matches one of these globs / of these kinds (empty: all).
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class RerankingSettings:
    # "off"; "on" (fails when the model is missing); "auto" (on when the model is installed and
    # `device` is a GPU: on CPU the second stage costs seconds per query).
    mode: str = "auto"
    # "all-mpnet-base-v2" (bundled, re-scores as a bi-encoder), "overlap" (a test fake),
    # or the path of a local CrossEncoder or sentence-transformers folder.
    model: str = "all-mpnet-base-v2"
    # Fused candidates re-scored by the second stage.
    candidates: int = 20
    # Weight of the second stage's ranking against the first stage's fused ranking.
    weight: float = 1.0
    batch_size: int = 16
    device: str = "cpu"
    # Keep second-stage passage vectors in the cache (SQLite, keyed by text hash) across queries.
    cache: bool = True


@dataclass(frozen=True)
class GenerationSettings:
    # On the 60 answerable dev questions the 1.5B model answered 0.63 against the 0.5B's 0.35, at
    # twice the time to first token (benchmarks/RESULTS.md, "Answers per generator").
    model: str = "qwen2.5-coder-1.5b"
    n_ctx: int = 4096
    # About three 200-token passages: fewer prompt tokens, sooner first token (benchmarks/RESULTS.md).
    context_tokens: int = 800
    # Each passage is cut to its sentences nearest the question, at most this many tokens (0: whole).
    passage_tokens: int = 0
    # Adjacent hits joined into one passage in the prompt (retrieval.merge_adjacent is for search).
    # Off: separate chunks let more distinct passages into the budget (README, "Passages for the model").
    merge_adjacent: bool = False
    max_answer_tokens: int = 384
    temperature: float = 0.1
    # 0 uses every available core, up to 8 (see generation.llama.default_threads).
    threads: int = 0
    gpu_layers: int = 0
    seed: int = 0
    # Share of a sentence's new terms that one passage must contain for the sentence to count as supported.
    min_support: float = 0.6
    # A LoRA adapter (GGUF) applied on top of the model; empty for none.
    lora: str = ""
    # Show a reasoning model's <think>...</think> text instead of hiding it.
    show_reasoning: bool = False


@dataclass(frozen=True)
class VerificationSettings:
    # How answer sentences are checked against the passages: "lexical", "embedding" or "llm".
    method: str = "lexical"
    # Unsupported sentences: "drop" them, or "mark" them and keep them.
    unsupported: str = "drop"
    # The embedding verifier's cosine threshold between a sentence and a passage's sentences.
    min_similarity: float = 0.6
    # Ask once more, for a verbatim quote of the sources, when less than correct_below of the
    # sentences hold (or the draft only restates the question); the quote must hold in full.
    self_correct: bool = True
    correct_below: float = 0.5
    # The judge for method "llm": a bundled name or GGUF path; empty uses the answering model.
    judge_model: str = ""


@dataclass(frozen=True)
class ChatSettings:
    # Earlier turns kept for rewriting follow-up questions.
    history_turns: int = 4
    # Rewrite follow-ups with the generator ("llm") or only by carrying the topic over ("simple").
    rewrite: str = "llm"


@dataclass(frozen=True)
class ParsingSettings:
    max_file_mb: float = 200.0
    # Each file is parsed in a worker subprocess under these limits; one that overruns is killed and reported.
    timeout_s: float = 120.0
    max_memory_mb: int = 2048
    # Worker subprocesses; 0 picks one per core, up to 4. isolate = false parses in-process (no limits).
    workers: int = 0
    isolate: bool = True
    # OCR pages without a text layer when the tesseract binary is on PATH.
    ocr: bool = True


@dataclass(frozen=True)
class Settings:
    index: IndexSettings = field(default_factory=IndexSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    reranking: RerankingSettings = field(default_factory=RerankingSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    parsing: ParsingSettings = field(default_factory=ParsingSettings)
    cache_dir: str = ""

    @property
    def index_path(self) -> Path:
        return Path(self.index.dir).expanduser().resolve()

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()


def default_index_dir(environ: Mapping[str, str]) -> Path:
    return _user_dir(environ, "XDG_DATA_HOME", ".local/share") / "ragcli" / "index"


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    return _user_dir(environ, "XDG_CACHE_HOME", ".cache") / "ragcli"


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(hints[f.name])}


def _coerce(value: Any, target: type, where: str) -> Any:
    if typing.get_origin(target) is tuple:
        return _coerce_strings(value, where)
    if isinstance(value, str) and target is not str:
        text = value.strip()
        try:
            if target is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return target(text)
        except ValueError:
            raise ConfigError(
                f"{where}: {value!r} is not a valid {target.__name__}",
                hint=f"Set {where} to a {target.__name__} value.",
            ) from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, target) or (target is int and isinstance(value, bool)):
        raise ConfigError(
            f"{where}: expected {target.__name__}, got {type(value).__name__} {value!r}",
            hint=f"Set {where} to a {target.__name__} value.",
        )
    return value


def _coerce_strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings: a TOML/flag list, or one environment string split on os.pathsep."""
    if isinstance(value, str):
        return tuple(part for part in value.split(os.pathsep) if part)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: expected a list of strings, got {type(value).__name__} {value!r}",
        hint=f'Set {where} to a list such as ["*.pdf"] (in the environment: values separated by "{os.pathsep}").',
    )


def _apply(settings: Settings, overrides: Mapping[str, Any], origin: str) -> Settings:
    """Return settings with dotted keys (``section.key`` or ``cache_dir``) replaced."""
    sections = _sections()
    grouped: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not key:
            if section != "cache_dir":
                raise ConfigError(f"{origin}: unknown setting {dotted!r}", hint="See configs/default.toml for every setting.")
            top["cache_dir"] = _coerce(value, str, f"{origin} cache_dir")
            continue
        if section not in sections:
            raise ConfigError(f"{origin}: unknown section [{section}]", hint="See configs/default.toml for every setting.")
        hints = typing.get_type_hints(sections[section])
        if key not in hints:
            raise ConfigError(f"{origin}: unknown setting {dotted!r}", hint="See configs/default.toml for every setting.")
        grouped.setdefault(section, {})[key] = _coerce(value, hints[key], f"{origin} {dotted}")
    changes: dict[str, Any] = dict(top)
    for section, values in grouped.items():
        changes[section] = dataclasses.replace(getattr(settings, section), **values)
    return dataclasses.replace(settings, **changes)


def _flatten_toml(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat[f"{name}.{key}"] = inner
        else:
            flat[name] = value
    return flat


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read ``RAG_SECTION_KEY`` variables, plus the short ``RAG_INDEX``."""
    found: dict[str, Any] = {}
    if environ.get("RAG_INDEX"):
        found["index.dir"] = environ["RAG_INDEX"]
    if environ.get("RAG_CACHE_DIR"):
        found["cache_dir"] = environ["RAG_CACHE_DIR"]
    for section, cls in _sections().items():
        for key in typing.get_type_hints(cls):
            name = f"RAG_{section}_{key}".upper()
            if name in environ:
                found[f"{section}.{key}"] = environ[name]
    return found


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: defaults < config file < RAG_* environment < flags."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}", hint="Check the --config path.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}", hint="Fix the file; configs/default.toml shows the format.") from exc
        settings = _apply(settings, _flatten_toml(data, str(config_file)), str(config_file))
    settings = _apply(settings, _from_environment(environ), "environment")
    settings = _apply(settings, flags or {}, "option")
    if not settings.index.dir:
        settings = dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(default_index_dir(environ))))
    if not settings.cache_dir:
        settings = dataclasses.replace(settings, cache_dir=str(default_cache_dir(environ)))
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    chunking = settings.chunking
    if chunking.tokens < 16:
        raise ConfigError(f"chunking.tokens must be at least 16, got {chunking.tokens}", hint="Use a chunk size such as 200.")
    if not 0 <= chunking.overlap < chunking.tokens // 2:
        raise ConfigError(
            f"chunking.overlap must be between 0 and half of chunking.tokens, got {chunking.overlap}",
            hint="Use an overlap such as 32.",
        )
    if settings.index.vectors not in ("faiss", "numpy"):
        raise ConfigError(f"index.vectors must be 'faiss' or 'numpy', got {settings.index.vectors!r}", hint="Use index.vectors = \"faiss\".")
    embedding = settings.embedding
    if embedding.backend not in ("onnx", "torch"):
        raise ConfigError(f"embedding.backend must be 'onnx' or 'torch', got {embedding.backend!r}", hint="Use embedding.backend = \"onnx\".")
    if embedding.precision not in ("fp32", "int8"):
        raise ConfigError(f"embedding.precision must be 'fp32' or 'int8', got {embedding.precision!r}", hint="Use embedding.precision = \"fp32\".")
    if embedding.precision == "int8" and embedding.backend != "onnx":
        raise ConfigError("embedding.precision = \"int8\" needs embedding.backend = \"onnx\"", hint="Set embedding.backend = \"onnx\" or embedding.precision = \"fp32\".")
    checks = [
        ("retrieval.k", settings.retrieval.k >= 1, "at least 1"),
        ("retrieval.candidates", settings.retrieval.candidates >= 1, "at least 1"),
        ("retrieval.max_per_page", settings.retrieval.max_per_page >= 1, "at least 1"),
        ("retrieval.rrf_k", settings.retrieval.rrf_k >= 1, "at least 1"),
        ("retrieval.dense_weight", settings.retrieval.dense_weight >= 0, "0 or more"),
        ("retrieval.lexical_weight", settings.retrieval.lexical_weight >= 0, "0 or more"),
        ("retrieval.neighbours", settings.retrieval.neighbours >= 0, "0 or more"),
        ("retrieval.min_passage_chars", settings.retrieval.min_passage_chars >= 0, "0 or more"),
        ("retrieval.heading_weight", settings.retrieval.heading_weight >= 0, "0 or more"),
        ("reranking.candidates", settings.reranking.candidates >= 1, "at least 1"),
        ("reranking.weight", settings.reranking.weight >= 0, "0 or more"),
        ("reranking.batch_size", settings.reranking.batch_size >= 1, "at least 1"),
        ("embedding.batch_size", settings.embedding.batch_size >= 1, "at least 1"),
        ("embedding.threads", settings.embedding.threads >= 0, "0 (automatic) or more"),
        ("index.ann_threshold", settings.index.ann_threshold >= 1, "at least 1"),
        ("index.ann_lists", settings.index.ann_lists >= 0, "0 (automatic) or more"),
        ("index.nprobe", settings.index.nprobe >= 1, "at least 1"),
        ("parsing.max_file_mb", settings.parsing.max_file_mb > 0, "more than 0"),
        ("parsing.timeout_s", settings.parsing.timeout_s > 0, "more than 0"),
        ("parsing.max_memory_mb", settings.parsing.max_memory_mb >= 256, "at least 256"),
        ("parsing.workers", settings.parsing.workers >= 0, "0 (automatic) or more"),
        ("generation.min_support", 0 < settings.generation.min_support <= 1, "between 0 (excluded) and 1"),
        ("generation.max_answer_tokens", settings.generation.max_answer_tokens >= 16, "at least 16"),
        ("generation.threads", settings.generation.threads >= 0, "0 (automatic) or more"),
        ("generation.passage_tokens", settings.generation.passage_tokens >= 0, "0 (whole passages) or more"),
        ("verification.method", settings.verification.method in ("lexical", "embedding", "llm"), "'lexical', 'embedding' or 'llm'"),
        ("verification.unsupported", settings.verification.unsupported in ("drop", "mark"), "'drop' or 'mark'"),
        ("verification.min_similarity", 0 < settings.verification.min_similarity <= 1, "between 0 (excluded) and 1"),
        ("verification.correct_below", 0 <= settings.verification.correct_below <= 1, "between 0 and 1"),
        ("chat.history_turns", settings.chat.history_turns >= 0, "0 or more"),
        ("chat.rewrite", settings.chat.rewrite in ("llm", "simple"), "'llm' or 'simple'"),
    ]
    for name, ok, expected in checks:
        if not ok:
            section, _, key = name.partition(".")
            value = getattr(getattr(settings, section), key)
            raise ConfigError(f"{name} must be {expected}, got {value}", hint="See configs/default.toml for the defaults.")
    if settings.reranking.mode not in ("off", "on", "auto"):
        raise ConfigError(
            f"reranking.mode must be 'off', 'on' or 'auto', got {settings.reranking.mode!r}", hint='Use reranking.mode = "auto".'
        )
    unknown_types = sorted(set(settings.retrieval.types) - set(DOCUMENT_TYPES))
    if unknown_types:
        raise ConfigError(
            f"retrieval.types: unknown document type {', '.join(map(repr, unknown_types))}",
            hint=f"Use one or more of {', '.join(DOCUMENT_TYPES)}.",
        )
    generation = settings.generation
    if generation.context_tokens + generation.max_answer_tokens + 256 > generation.n_ctx:
        raise ConfigError(
            f"generation.context_tokens ({generation.context_tokens}) + max_answer_tokens ({generation.max_answer_tokens})"
            f" + 256 for the prompt must fit in generation.n_ctx ({generation.n_ctx})",
            hint="Raise generation.n_ctx or lower context_tokens / max_answer_tokens.",
        )
