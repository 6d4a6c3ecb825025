"""A sentence-transformers bi-encoder used as a second stage: cosine of query and passage vectors.

A stronger bi-encoder than the index's (all-mpnet-base-v2 against MiniLM) only
runs over the few fused candidates, so its cost is per query, not per corpus.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.config import RerankingSettings
from ragcli.models.folders import folder_fingerprint
from ragcli.models.sentence_transformers import embedding_dimension, load_sentence_transformer
from ragcli.reranking.cache import VectorCache, passage_key


class BiEncoderReranker:
    def __init__(self, folder: Path, settings: RerankingSettings, cache_dir: Path | None, model_id: str | None = None) -> None:
        self._model = load_sentence_transformer(folder, settings.device, setting="reranking.model")
        self._batch_size = settings.batch_size
        self.id = model_id or f"sentence-transformers:{folder.name}:{folder_fingerprint(folder)}"
        self.dimension = embedding_dimension(self._model)
        self._cache: VectorCache | None = None
        if settings.cache and cache_dir is not None:
            name = re.sub(r"[^\w.-]+", "_", self.id)
            self._cache = VectorCache(cache_dir / "reranking" / f"{name}.sqlite3", self.dimension)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _passage_vectors(self, passages: Sequence[str]) -> np.ndarray:
        keys = [passage_key(self.id, text) for text in passages]
        known = self._cache.get(keys) if self._cache is not None else {}
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            # Unique texts only, longest first: similar lengths batch with less padding.
            order = sorted({keys[i]: i for i in missing}.values(), key=lambda i: -len(passages[i]))
            fresh = dict(zip((keys[i] for i in order), self._encode([passages[i] for i in order])))
            if self._cache is not None:
                self._cache.put(fresh)
            known = {**known, **fresh}
        return np.stack([known[key] for key in keys])

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        query_vector = self._encode([query])[0]
        return [float(s) for s in self._passage_vectors(passages) @ query_vector]
