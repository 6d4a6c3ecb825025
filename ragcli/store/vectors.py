"""The VectorStore seam: exact inner-product search over chunk vectors.

The FAISS file is derived from the catalog and stamped with the catalog
generation it was built from (in a JSON sidecar), so a stale or missing file
is simply rebuilt and never trusted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np


def fsync_file(path: Path) -> None:
    """Make a file's bytes durable before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VectorStore(Protocol):
    def __len__(self) -> int: ...

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...


class NumpyVectorStore:
    """Brute-force search in numpy: the deterministic fake, and a reference for tests."""

    def __init__(self, dimension: int) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dimension), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._ids, self._vectors = ids.astype(np.int64), vectors.astype(np.float32)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(self._ids):
            return []
        scores = self._vectors @ query.astype(np.float32)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(self._ids[i]), float(scores[i])) for i in top]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        with open(tmp, "wb") as handle:
            np.savez(handle, ids=self._ids, vectors=self._vectors)
        fsync_file(tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            self._ids, self._vectors = data["ids"], data["vectors"]


class FaissVectorStore:
    """FAISS exact inner-product index keyed by chunk id, saved with ``write_index``."""

    def __init__(self, dimension: int) -> None:
        import faiss

        self._faiss = faiss
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.reset()
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._index.ntotal == 0:
            return []
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), min(k, self._index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        self._faiss.write_index(self._index, str(tmp))
        fsync_file(tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> None:
        self._index = self._faiss.read_index(str(path))


VECTOR_STORES = {"faiss": FaissVectorStore, "numpy": NumpyVectorStore}
_FILE_NAMES = {"faiss": "vectors.faiss", "numpy": "vectors.npz"}


def make_vector_store(backend: str, dimension: int) -> VectorStore:
    return VECTOR_STORES[backend](dimension)


def vector_file(index_dir: Path, backend: str) -> Path:
    return index_dir / _FILE_NAMES[backend]


def _stamp_file(index_dir: Path) -> Path:
    return index_dir / "vectors.json"


def read_stamp(index_dir: Path) -> dict:
    try:
        return json.loads(_stamp_file(index_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_stamp(index_dir: Path, stamp: dict) -> None:
    target = _stamp_file(index_dir)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, target)
