"""Passage vectors of a second-stage bi-encoder, kept in SQLite between queries.

Keyed by a hash of (model id, passage text), so it is valid for any index and
survives re-ingests; float32 blobs, an open format. Purely a cache: when it
cannot be opened or written, the vectors are simply computed again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np


def passage_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class VectorCache:
    def __init__(self, path: Path, dimension: int) -> None:
        self.dimension = dimension
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Private: the vectors are of the user's passages (SQLite's -wal/-shm copy these permissions).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            os.chmod(path, 0o600)
            db = sqlite3.connect(str(path), isolation_level=None, timeout=5.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self._db = db
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if self._db is None or not keys:
            return {}
        marks = ",".join("?" * len(keys))
        try:
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", list(keys)).fetchall()
        except sqlite3.Error:
            return {}
        found = {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows}
        return {key: vector for key, vector in found.items() if vector.shape == (self.dimension,)}

    def put(self, items: dict[str, np.ndarray]) -> None:
        if self._db is None or not items:
            return
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors(key, vector) VALUES (?, ?)",
                [(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in items.items()],
            )
        except sqlite3.Error:
            pass  # a read-only or busy cache only costs recomputation

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
