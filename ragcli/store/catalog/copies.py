"""The catalog's near-duplicate bookkeeping (``ragcli.copies``): sketches of indexed documents,
and copies with the document each repeats."""

from __future__ import annotations

import sqlite3
from typing import Iterable, Sequence


class Copies:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _present(self) -> bool:
        # An index written before copies were found, opened by a reader, lacks the tables.
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'copies'").fetchone() is not None

    def add_sketch(self, document_id: int, hashes: Sequence[int]) -> None:
        self._db.executemany("INSERT INTO sketches(document_id, hash) VALUES (?, ?)", [(document_id, h) for h in hashes])

    def mark(self, document_id: int, of_path: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO copies(document_id, of_path) VALUES (?, ?)", (document_id, of_path))

    def candidates(self, hashes: Sequence[int], besides: str, limit: int = 4) -> list[tuple[str, str, list[int]]]:
        """The indexed documents (other than ``besides``) whose sketches share most of ``hashes``:
        path, title and sketch, most shared first."""
        if not hashes:
            return []
        marks = ",".join("?" * len(hashes))
        rows = self._db.execute(
            f"SELECT s.document_id, d.path, d.title, count(*) AS shared FROM sketches s JOIN documents d ON d.id = s.document_id"
            f" WHERE s.hash IN ({marks}) AND d.path != ? GROUP BY s.document_id ORDER BY shared DESC, d.path LIMIT ?",
            (*hashes, besides, limit),
        ).fetchall()
        return [
            (path, title, [h for (h,) in self._db.execute("SELECT hash FROM sketches WHERE document_id = ? ORDER BY hash", (document_id,))])
            for document_id, path, title, _ in rows
        ]

    def listing(self) -> list[tuple[str, str]]:
        """(copy, the document it repeats), by path."""
        if not self._present():
            return []
        return self._db.execute(
            "SELECT d.path, c.of_path FROM copies c JOIN documents d ON d.id = c.document_id ORDER BY d.path"
        ).fetchall()

    def of(self, path: str) -> str | None:
        if not self._present():
            return None
        row = self._db.execute("SELECT c.of_path FROM copies c JOIN documents d ON d.id = c.document_id WHERE d.path = ?", (path,)).fetchone()
        return row[0] if row else None

    def to_recheck(self, changed: Iterable[str]) -> list[str]:
        """Copies to read again: their document is gone, is not indexed itself (a copy, or a
        failure), or its text changed (``changed``)."""
        if not self._present():
            return []
        changed = set(changed)
        rows = self._db.execute(
            "SELECT d.path, c.of_path, (SELECT count(*) FROM documents o WHERE o.path = c.of_path"
            " AND o.id NOT IN (SELECT document_id FROM copies) AND o.chunk_count > 0)"
            " FROM copies c JOIN documents d ON d.id = c.document_id ORDER BY d.path"
        ).fetchall()
        return [path for path, of_path, indexed in rows if not indexed or of_path in changed]
