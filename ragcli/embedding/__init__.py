"""The Embedder seam: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ragcli.config import EmbeddingSettings
from ragcli.errors import ModelError


class Embedder(Protocol):
    # Stable identity recorded in the index; a different id means incompatible vectors.
    id: str
    dimension: int
    # The model's window in its own tokens, special tokens excluded.
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _hash(settings: EmbeddingSettings) -> Embedder:
    from ragcli.embedding.hashing import HashEmbedder

    return HashEmbedder()


def _bundled_minilm(settings: EmbeddingSettings) -> Embedder:
    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder, bundled_minilm_path

    return SentenceTransformerEmbedder(bundled_minilm_path(), settings, model_id="sentence-transformers/all-MiniLM-L6-v2")


EMBEDDERS = {
    "hash": _hash,
    "all-minilm-l6-v2": _bundled_minilm,
}


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    """Pick the embedder named in config: a short name or a local sentence-transformers folder."""
    factory = EMBEDDERS.get(settings.model.lower())
    if factory is not None:
        return factory(settings)
    folder = Path(settings.model).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"unknown embedder {settings.model!r}: not a short name ({', '.join(EMBEDDERS)}) nor a folder",
            hint="Set embedding.model to a short name or to a local sentence-transformers model folder.",
        )
    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(folder.resolve(), settings)
