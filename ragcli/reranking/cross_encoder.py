"""Any local CrossEncoder folder (e.g. a ms-marco MiniLM reranker the user has): scores (query, passage) pairs jointly."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ragcli.config import RerankingSettings
from ragcli.models.folders import folder_fingerprint
from ragcli.models.sentence_transformers import load_sentence_transformer


class CrossEncoderReranker:
    def __init__(self, folder: Path, settings: RerankingSettings) -> None:
        self._model = load_sentence_transformer(folder, settings.device, cross_encoder=True, setting="reranking.model")
        self._batch_size = settings.batch_size
        self.id = f"cross-encoder:{folder.name}:{folder_fingerprint(folder)}"

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = self._model.predict(
            [(query, text) for text in passages], batch_size=self._batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        # A one-label model gives one score per pair; a multi-label one, the last label (the "relevant" class).
        return [float(s) for s in (scores if scores.ndim == 1 else scores[:, -1])]
