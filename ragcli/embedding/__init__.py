"""The Embedder seam: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ragcli.config import EmbeddingSettings
from ragcli.errors import ModelError

BUNDLED = {"all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


class Embedder(Protocol):
    # Stable identity recorded in the index; a different id means incompatible vectors.
    id: str
    dimension: int
    # The model's window in its own tokens, special tokens excluded.
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def embedder_id(base_id: str, settings: EmbeddingSettings) -> str:
    """fp32 ONNX computes the torch vectors (checked by a test), so both share an index; int8 does not."""
    if settings.backend == "onnx" and settings.precision == "int8":
        return f"{base_id}+onnx-int8"
    return base_id


def _model_folder(settings: EmbeddingSettings) -> tuple[Path, str | None]:
    name = settings.model.lower()
    if name in BUNDLED:
        from ragcli.embedding.sentence_transformer import bundled_minilm_path

        return bundled_minilm_path(), BUNDLED[name]
    folder = Path(settings.model).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"unknown embedder {settings.model!r}: not a short name ({', '.join(['hash', *BUNDLED])}) nor a folder",
            hint="Set embedding.model to a short name or to a local sentence-transformers model folder.",
        )
    return folder.resolve(), None


def load_embedder(settings: EmbeddingSettings, cache_dir: Path | None = None) -> Embedder:
    """Pick the embedder named in config: a short name or a local sentence-transformers folder.

    Model-backed embedders come back lazy: the weights load on the first ``embed`` call.
    ``cache_dir`` holds the ONNX exports (default: the per-user cache directory).
    """
    if settings.model.lower() == "hash":
        from ragcli.embedding.hashing import HashEmbedder

        return HashEmbedder()
    from ragcli.embedding.lazy import LazyEmbedder
    from ragcli.embedding.model_folder import describe_folder

    path, bundled_id = _model_folder(settings)
    folder = describe_folder(path)
    model_id = embedder_id(bundled_id or folder.default_id(), settings)
    if settings.backend == "onnx":
        if cache_dir is None:
            from ragcli.config import default_cache_dir

            cache_dir = default_cache_dir(os.environ)

        def load():
            from ragcli.embedding.onnx_export import onnx_model_file
            from ragcli.embedding.onnx_runtime import OnnxEmbedder
            from ragcli.embedding.tokenizing import FastTokenizer

            if folder.tokenizer_file is None:
                raise ModelError(
                    f"{folder.path} has no tokenizer.json, which the ONNX backend needs",
                    hint="Set embedding.backend = \"torch\" for this model.",
                )
            model_file = onnx_model_file(cache_dir, folder, settings.precision)
            tokenizer = FastTokenizer(folder.tokenizer_file, folder.max_seq_length, folder.do_lower_case)
            return OnnxEmbedder(model_file, folder, tokenizer, model_id=model_id, batch_size=settings.batch_size, threads=settings.threads)
    else:

        def load():
            from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

            return SentenceTransformerEmbedder(folder.path, settings, model_id=model_id)

    return LazyEmbedder(folder, model_id, load)
