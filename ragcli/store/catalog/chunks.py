"""The catalog's chunks: text, place in the document, and the float32 vector as a blob."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from ragcli.records import embedding_text

# SQLite's default limit on bound variables is 999: larger id lists go in batches.
_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class StoredChunk:
    id: int
    path: str
    page: int | None
    title: str
    headings: tuple[str, ...]
    text: str
    kind: str
    # Where the chunk sits in its document, for merging neighbours.
    document_id: int = 0
    ordinal: int = 0
    # The title/heading line it was embedded with.
    context: str = ""

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.context, self.text)


@dataclass(frozen=True, kw_only=True)
class NewChunk:
    ordinal: int
    page: int | None
    headings: tuple[str, ...]
    context: str
    text: str
    embed_hash: str
    vector: np.ndarray


def _batches(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield list(ids[start : start + _BATCH])


def _marks(batch: Sequence) -> str:
    return ",".join("?" * len(batch))


class Chunks:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def insert(self, document_id: int, chunk: NewChunk) -> int:
        """Store one chunk of a document; its id."""
        cursor = self._db.execute(
            "INSERT INTO chunks(document_id, ordinal, page, headings, context, text, embed_hash, vector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (document_id, chunk.ordinal, chunk.page, json.dumps(list(chunk.headings)), chunk.context, chunk.text,
             chunk.embed_hash, np.ascontiguousarray(chunk.vector, dtype=np.float32).tobytes()),
        )
        return int(cursor.lastrowid)

    def delete_of_documents(self, document_ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM chunks WHERE document_id = ?", [(i,) for i in document_ids])

    def vectors_for(self, embed_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Already computed vectors for these embedding inputs, so identical text is embedded once."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(embed_hashes))
        for start in range(0, len(unique), _BATCH):
            batch = unique[start : start + _BATCH]
            rows = self._db.execute(
                f"SELECT embed_hash, vector FROM chunks WHERE embed_hash IN ({_marks(batch)}) GROUP BY embed_hash", batch
            )
            for embed_hash, blob in rows:
                # A damaged vector is never copied to new chunks: their text is embedded again.
                if len(blob) % 4 == 0:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if np.isfinite(vector).all():
                        found[embed_hash] = vector
        return found

    def all_vectors(self, dimension: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Every chunk id and its vector, in id order, and the ids of chunks whose vector is damaged
        (the wrong size, or not finite): those are left out, so one bad row cannot stop a search."""
        count = self.count()
        ids = np.empty(count, dtype=np.int64)
        vectors = np.empty((count, dimension), dtype=np.float32)
        damaged: list[int] = []
        width = dimension * 4
        row = 0
        for chunk_id, blob in self._db.execute("SELECT id, vector FROM chunks ORDER BY id"):
            if row >= count:
                break
            vector = np.frombuffer(blob, dtype=np.float32) if len(blob) == width else None
            if vector is None or not np.isfinite(vector).all():
                damaged.append(chunk_id)
                continue
            ids[row] = chunk_id
            vectors[row] = vector
            row += 1
        return ids[:row], vectors[:row], damaged

    def get(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        for batch in _batches(chunk_ids):
            rows = self._db.execute(
                "SELECT c.id, d.path, c.page, d.title, c.headings, c.text, d.kind, c.document_id, c.ordinal, c.context"
                f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({_marks(batch)})",
                batch,
            )
            for row in rows:
                found[row[0]] = StoredChunk(
                    id=row[0], path=row[1], page=row[2], title=row[3], headings=tuple(json.loads(row[4])), text=row[5],
                    kind=row[6], document_id=row[7], ordinal=row[8], context=row[9],
                )
        return found

    def neighbour_ids(self, document_id: int, low: int, high: int) -> dict[int, tuple[int, int | None]]:
        """Ordinal -> (chunk id, page) for one document's chunks with ordinals in [low, high]."""
        rows = self._db.execute(
            "SELECT ordinal, id, page FROM chunks WHERE document_id = ? AND ordinal BETWEEN ? AND ?", (document_id, low, high)
        )
        return {int(ordinal): (int(chunk_id), page) for ordinal, chunk_id, page in rows}

    def ids_of(self, document_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for batch in _batches(document_ids):
            found.update(row[0] for row in self._db.execute(f"SELECT id FROM chunks WHERE document_id IN ({_marks(batch)})", batch))
        return found

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def ids_with_text(self, min_chars: int) -> list[int]:
        """Ids of the chunks holding at least ``min_chars`` characters of text, in id order."""
        return [row[0] for row in self._db.execute("SELECT id FROM chunks WHERE length(text) >= ? ORDER BY id", (min_chars,))]

    # -- integrity ----------------------------------------------------------

    def orphans(self) -> int:
        """Chunks that belong to no document."""
        return int(self._db.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)").fetchone()[0])

    def delete_orphans(self) -> int:
        return self._db.execute("DELETE FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)").rowcount

    def wrong_size(self, dimension: int) -> int:
        """Chunks whose vector is not ``dimension`` float32 numbers."""
        return int(self._db.execute("SELECT count(*) FROM chunks WHERE length(vector) != ?", (dimension * 4,)).fetchone()[0])

    def _vectors(self, dimension: int) -> Iterable[tuple[int, np.ndarray]]:
        rows = self._db.execute("SELECT id, vector FROM chunks WHERE length(vector) = ?", (dimension * 4,))
        return ((chunk_id, np.frombuffer(blob, dtype=np.float32)) for chunk_id, blob in rows)

    def non_finite(self, dimension: int) -> list[int]:
        """Chunks of the right size whose vector holds NaN or infinite values."""
        return [chunk_id for chunk_id, vector in self._vectors(dimension) if not np.isfinite(vector).all()]

    def damaged(self, dimension: int) -> list[int]:
        """Every chunk whose vector cannot be searched: the wrong size, or not finite."""
        wrong = [row[0] for row in self._db.execute("SELECT id FROM chunks WHERE length(vector) != ?", (dimension * 4,))]
        return wrong + self.non_finite(dimension)

    def delete(self, chunk_ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in chunk_ids])

    def sample_vectors(self, dimension: int, count: int, rng: random.Random | None = None) -> list[tuple[int, np.ndarray]]:
        """Up to ``count`` chunks with well-formed vectors, picked at random by id (no table scan)."""
        rng = rng or random.Random()
        top = self._db.execute("SELECT max(id) FROM chunks").fetchone()[0]
        found: dict[int, np.ndarray] = {}
        for _ in range(count * 3 if top else 0):
            row = self._db.execute(
                "SELECT id, vector FROM chunks WHERE id >= ? AND length(vector) = ? ORDER BY id LIMIT 1",
                (rng.randint(1, top), dimension * 4),
            ).fetchone()
            if row is not None:
                found[row[0]] = np.frombuffer(row[1], dtype=np.float32)
            if len(found) >= count:
                break
        return list(found.items())

    def vector(self, chunk_id: int, dimension: int) -> np.ndarray | None:
        """One chunk's vector, or None when it is missing or the wrong size."""
        row = self._db.execute("SELECT vector FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        if row is None or len(row[0]) != dimension * 4:
            return None
        return np.frombuffer(row[0], dtype=np.float32)
