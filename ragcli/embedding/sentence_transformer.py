"""sentence-transformers adapter: the bundled MiniLM or any local model folder, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.config import EmbeddingSettings
from ragcli.models.folders import folder_fingerprint
from ragcli.models.sentence_transformers import embedding_dimension, load_sentence_transformer


class SentenceTransformerEmbedder:
    def __init__(self, folder: Path, settings: EmbeddingSettings, model_id: str | None = None) -> None:
        self._model = load_sentence_transformer(folder, settings.device)
        self._batch_size = settings.batch_size
        self.id = model_id or f"sentence-transformers:{folder.name}:{folder_fingerprint(folder)}"
        self.dimension = embedding_dimension(self._model)
        self._tokenizer = self._model.tokenizer
        special = self._tokenizer.num_special_tokens_to_add(pair=False)
        self.max_tokens = int(self._model.max_seq_length) - special
        if settings.read_tokens:
            # Read only the start of each text; max_tokens (the chunking window) stays the model's.
            self._model.max_seq_length = min(int(self._model.max_seq_length), settings.read_tokens + special)

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
