"""Any local CrossEncoder folder (e.g. a ms-marco MiniLM reranker the user has): scores (query, passage) pairs jointly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from ragcli.config import RerankingSettings
from ragcli.errors import ModelError
from ragcli.embedding.sentence_transformer import import_sentence_transformers


class CrossEncoderReranker:
    def __init__(self, folder: Path, settings: RerankingSettings) -> None:
        CrossEncoder = import_sentence_transformers().CrossEncoder
        try:
            self._model = CrossEncoder(str(folder), device=settings.device, local_files_only=True)
        except Exception as exc:
            raise ModelError(
                f"cannot load a CrossEncoder from {folder}: {exc}",
                hint="Point reranking.model at a local CrossEncoder folder (config.json, weights, tokenizer),"
                ' or set reranking.mode = "off".',
            ) from exc
        self._batch_size = settings.batch_size
        digest = hashlib.sha256()
        for entry in sorted(folder.glob("*.json")):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
        self.id = f"cross-encoder:{folder.name}:{digest.hexdigest()[:12]}"

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = self._model.predict(
            [(query, text) for text in passages], batch_size=self._batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        # A one-label model gives one score per pair; a multi-label one, the last label (the "relevant" class).
        return [float(s) for s in (scores if scores.ndim == 1 else scores[:, -1])]
