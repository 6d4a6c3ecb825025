"""ONNX Runtime adapter: the exported transformer plus sentence-transformers' pooling, without torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.embedding.model_folder import ModelFolder
from ragcli.embedding.tokenizing import FastTokenizer
from ragcli.errors import ModelError


def import_onnxruntime():
    """onnxruntime with its telemetry off. Since 1.29 its PyPI builds send usage events to
    Microsoft and keep a device id and an event cache under ~/.cache/Microsoft on Linux too, which a
    local-first tool must not do; ORT_DISABLE_TELEMETRY, read once when the library starts, turns
    all of it off (a value the user set is kept)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def pool(token_embeddings: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """Sentence vectors from token vectors, as sentence-transformers' Pooling module computes them."""
    mask = attention_mask[..., None].astype(np.float32)
    if mode == "mean":
        return (token_embeddings * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    if mode == "cls":
        return token_embeddings[:, 0]
    if mode == "max":
        return np.where(mask > 0, token_embeddings, -1e9).max(axis=1)
    if mode == "mean_sqrt_len":
        return (token_embeddings * mask).sum(axis=1) / np.sqrt(np.maximum(mask.sum(axis=1), 1e-9))
    raise ModelError(f"pooling mode {mode!r} is not supported by the ONNX backend", hint="Set embedding.backend = \"torch\" for this model.")


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class OnnxEmbedder:
    """Runs a cached ONNX export of a sentence-transformers folder with onnxruntime."""

    def __init__(
        self, model_file: Path, folder: ModelFolder, tokenizer: FastTokenizer, *, model_id: str, batch_size: int, threads: int = 0
    ) -> None:
        try:
            onnxruntime = import_onnxruntime()
        except ImportError:
            raise ModelError("onnxruntime is not installed", hint="pip install onnxruntime, or set embedding.backend = \"torch\".") from None
        if folder.pooling not in ("mean", "cls", "max", "mean_sqrt_len"):
            raise ModelError(
                f"pooling mode {folder.pooling!r} of {folder.path} is not supported by the ONNX backend",
                hint="Set embedding.backend = \"torch\" for this model.",
            )
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: on two shared cores a spinning pool steals
        # the time the parser (and everyone else) needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(
                f"cannot load the ONNX model {model_file}: {exc}",
                hint=f"Delete {model_file.parent} so it is exported again, or set embedding.backend = \"torch\".",
            ) from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._folder = folder
        self._tokenizer = tokenizer
        self._batch_size = batch_size
        self.id = model_id
        self.dimension = folder.dimension
        self.max_tokens = folder.max_seq_length - tokenizer.special_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokenizer.count(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Longest first and in length order, so each batch pads to similar lengths (less wasted compute).
        # Characters stand in for tokens: close enough to group batches, and free.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            encoded = self._tokenizer.encode([texts[i] for i in rows])
            feed = {name: encoded[name] for name in self._inputs}
            (tokens,) = self._session.run(["token_embeddings"], feed)
            vectors = pool(tokens, encoded["attention_mask"], self._folder.pooling)
            # The embedder contract is unit vectors (inner product = cosine), whatever the folder's last module.
            out[rows] = normalize(vectors)
        return out
