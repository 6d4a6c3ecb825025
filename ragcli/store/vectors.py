"""The VectorStore seam: inner-product search over chunk vectors (exact, or IVF beyond a size).

The FAISS file is derived from the catalog and stamped with the catalog
generation it was built from (in a JSON sidecar), so a stale or missing file
is simply rebuilt and never trusted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Protocol

import numpy as np

from ragcli.config import IndexSettings
from ragcli.durable import atomic_write

# Files smaller than this are read whole: mapping them saves nothing.
_MMAP_FROM_BYTES = 64 * 1024 * 1024
_TRAIN_PER_LIST = 40


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
        with atomic_write(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, ids=self._ids, vectors=self._vectors)

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            self._ids, self._vectors = data["ids"], data["vectors"]


class FaissVectorStore:
    """FAISS inner-product index keyed by chunk id, saved with ``write_index``.

    Exact (flat) search below ``ann_threshold`` vectors; from there on an IVF index
    whose vectors are 8-bit scalar-quantized: a quarter of the memory of exact search,
    and each query scans only the ``nprobe`` nearest cells. The saved IVF file is
    memory-mapped when FAISS allows it, so opening a large index reads almost nothing.
    """

    def __init__(self, dimension: int, options: IndexSettings | None = None) -> None:
        import faiss

        options = options or IndexSettings()
        self._faiss = faiss
        self._dimension = dimension
        self._ann_threshold = options.ann_threshold
        self._ann_lists = options.ann_lists
        self._nprobe = options.nprobe
        self._mmap = options.mmap
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def layout(self) -> str:
        """"flat", or "ivf<cells>-sq8"."""
        ivf = self._ivf()
        return "flat" if ivf is None else f"ivf{ivf.nlist}-sq8"

    def _ivf(self):
        try:
            return self._faiss.extract_index_ivf(self._index)
        except RuntimeError:  # not an IVF index
            return None

    def lists_for(self, count: int) -> int:
        """IVF cells for ``count`` vectors: about 2 * sqrt(n) (the low end of FAISS's advice, which keeps
        k-means affordable on two cores), and never fewer than 40 training vectors per cell."""
        lists = self._ann_lists or int(2 * math.sqrt(count))
        return max(1, min(lists, count // _TRAIN_PER_LIST))

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        faiss = self._faiss
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) < self._ann_threshold:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dimension))
            if len(ids):
                self._index.add_with_ids(vectors, ids)
            return
        lists = self.lists_for(len(ids))
        quantizer = faiss.IndexFlatIP(self._dimension)
        index = faiss.IndexIVFScalarQuantizer(quantizer, self._dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        # k-means on a sample (FAISS's own minimum per cell): training dominates build time.
        # A fixed seed keeps rebuilds reproducible.
        sample = min(len(ids), lists * _TRAIN_PER_LIST)
        rows = np.random.default_rng(0).choice(len(ids), size=sample, replace=False) if sample < len(ids) else slice(None)
        index.train(vectors[rows])
        index.add_with_ids(vectors, ids)
        index.nprobe = self._nprobe
        self._index = index

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._index.ntotal == 0:
            return []
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), min(k, self._index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        with atomic_write(path) as tmp:
            self._faiss.write_index(self._index, str(tmp))

    def load(self, path: Path) -> None:
        faiss = self._faiss
        # The flat index is small enough to read; a large IVF file is mapped so only the cells a query
        # visits are paged in. Writers replace the file by rename, so a mapping never sees it change.
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if self._mmap and path.stat().st_size > _MMAP_FROM_BYTES else 0
        self._index = faiss.read_index(str(path), flags)
        ivf = self._ivf()
        if ivf is not None:
            ivf.nprobe = self._nprobe


VECTOR_STORES = {"faiss": FaissVectorStore, "numpy": NumpyVectorStore}
_FILE_NAMES = {"faiss": "vectors.faiss", "numpy": "vectors.npz"}


def make_vector_store(backend: str, dimension: int, options: IndexSettings | None = None) -> VectorStore:
    if backend == "faiss":
        return FaissVectorStore(dimension, options)
    return VECTOR_STORES[backend](dimension)


def vector_file(index_dir: Path, backend: str) -> Path:
    return index_dir / _FILE_NAMES[backend]


def file_digest(path: Path) -> str | None:
    """sha256 of a vector file that is read whole (None for one large enough to be memory-mapped,
    whose content is checked by probes instead: hashing it would read what mapping avoids)."""
    if path.stat().st_size > _MMAP_FROM_BYTES:
        return None
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stamp_file(index_dir: Path) -> Path:
    return index_dir / "vectors.json"


def read_stamp(index_dir: Path) -> dict:
    try:
        return json.loads(stamp_file(index_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_stamp(index_dir: Path, stamp: dict) -> None:
    with atomic_write(stamp_file(index_dir)) as tmp:
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
