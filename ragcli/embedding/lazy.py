"""An embedder that knows its identity at once and loads its model on the first embed call.

Opening an index, checking it matches, and skipping unchanged files only need the
embedder's id, dimension and window, which the model folder's JSON files give. So a
re-ingest of an unchanged corpus, `rag status` and a refused mismatched query never
pay for importing torch or onnxruntime or for loading weights.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ragcli.embedding.model_folder import ModelFolder
from ragcli.embedding.tokenizing import FastTokenizer


class LazyEmbedder:
    def __init__(self, folder: ModelFolder, model_id: str, load: Callable[[], "object"], needs_preparing: Callable[[], bool] = lambda: False, *, dimension: int | None = None) -> None:
        self.id = model_id
        # Whether loading will first prepare the model (an ONNX export): worth telling a person about.
        self.needs_preparing = needs_preparing
        self.dimension = folder.dimension if dimension is None else dimension
        self._folder = folder
        self._load = load
        self._model = None
        self._tokenizer: FastTokenizer | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _real(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def _fast_tokenizer(self) -> FastTokenizer | None:
        if self._tokenizer is None and self._folder.tokenizer_file is not None:
            self._tokenizer = FastTokenizer(self._folder.tokenizer_file, self._folder.max_seq_length, self._folder.do_lower_case)
        return self._tokenizer

    @property
    def max_tokens(self) -> int:
        tokenizer = self._fast_tokenizer()
        if tokenizer is None:
            return int(self._real().max_tokens)
        return self._folder.max_seq_length - tokenizer.special_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        tokenizer = self._fast_tokenizer()
        if tokenizer is None:
            return self._real().count_tokens(texts)
        return tokenizer.count(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._real().embed(texts)
