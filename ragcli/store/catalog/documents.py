"""The catalog's documents, the folders it remembers (roots) and the files that failed."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Sequence

from ragcli.store.catalog.schema import under, under_arguments


@dataclass(frozen=True, kw_only=True)
class StoredDocument:
    id: int
    path: str
    sha256: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, kw_only=True)
class NewDocument:
    path: str
    sha256: str
    size: int
    mtime_ns: int
    kind: str
    title: str
    pages: int | None
    warnings: Sequence[str]


def _document(row) -> StoredDocument:
    return StoredDocument(id=row[0], path=row[1], sha256=row[2], size=row[3], mtime_ns=row[4])


_COLUMNS = "id, path, sha256, size, mtime_ns"


class Documents:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, path: str) -> StoredDocument | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM documents WHERE path = ?", (path,)).fetchone()
        return None if row is None else _document(row)

    def under(self, root: str) -> list[StoredDocument]:
        """Documents at ``root`` or anywhere below it."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM documents WHERE {under('path')}", under_arguments(root))
        return [_document(row) for row in rows]

    def insert(self, document: NewDocument, chunk_count: int) -> int:
        cursor = self._db.execute(
            "INSERT INTO documents(path, sha256, size, mtime_ns, kind, title, pages, chunk_count, warnings, indexed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (document.path, document.sha256, document.size, document.mtime_ns, document.kind, document.title, document.pages,
             chunk_count, json.dumps(list(document.warnings)), time.time()),
        )
        return int(cursor.lastrowid)

    def set_chunk_count(self, document_id: int, count: int) -> None:
        self._db.execute("UPDATE documents SET chunk_count = ? WHERE id = ?", (count, document_id))

    def delete(self, document_ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM documents WHERE id = ?", [(i,) for i in document_ids])

    def touch(self, document_id: int, size: int, mtime_ns: int) -> None:
        """Record new stat data for a file whose content did not change."""
        self._db.execute("UPDATE documents SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, document_id))

    def kinds_by_id(self) -> list[tuple[int, str, str]]:
        """(id, path, kind) of every document, for scoping a search."""
        return [(int(i), p, k) for i, p, k in self._db.execute("SELECT id, path, kind FROM documents")]

    def count_by_kind(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT kind, count(*) FROM documents GROUP BY kind ORDER BY kind"))

    def summary_under(self, root: str) -> tuple[int, int]:
        """How many documents and chunks lie at or below ``root``."""
        row = self._db.execute(
            f"SELECT count(*), coalesce(sum(chunk_count), 0) FROM documents WHERE {under('path')}", under_arguments(root)
        ).fetchone()
        return int(row[0]), int(row[1])

    # -- integrity ----------------------------------------------------------

    def miscounted(self) -> int:
        """Documents whose recorded chunk count differs from their chunks."""
        return int(self._db.execute(
            "SELECT count(*) FROM documents d WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
        ).fetchone()[0])

    def mark_miscounted_changed(self) -> int:
        """Mark documents that lost chunks as changed, so the next ingest parses them again; how many."""
        return self._db.execute(
            "UPDATE documents SET sha256 = '', size = -1, chunk_count = (SELECT count(*) FROM chunks c WHERE c.document_id = documents.id)"
            " WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.document_id = documents.id)"
        ).rowcount

    # -- failures -----------------------------------------------------------

    def record_failure(self, path: str, error: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO failures(path, error, at) VALUES (?, ?, ?)", (path, error, time.time()))

    def clear_failure(self, path: str) -> None:
        self._db.execute("DELETE FROM failures WHERE path = ?", (path,))

    def clear_failures_under(self, root: str, keep: set[str]) -> None:
        rows = self._db.execute(f"SELECT path FROM failures WHERE {under('path')}", under_arguments(root)).fetchall()
        self._db.executemany("DELETE FROM failures WHERE path = ?", [(path,) for (path,) in rows if path not in keep])

    def failures(self) -> list[tuple[str, str]]:
        return list(self._db.execute("SELECT path, error FROM failures ORDER BY path"))

    # -- roots ----------------------------------------------------------------

    def add_root(self, root: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (root, time.time()))

    def roots(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT path FROM roots ORDER BY path")]

    def root_device(self, root: str) -> int | None:
        """The device the root's folder was on when it was last walked (None: not recorded)."""
        row = self._db.execute("SELECT device FROM roots WHERE path = ?", (root,)).fetchone()
        return None if row is None else row[0]

    def set_root_device(self, root: str, device: int) -> None:
        self._db.execute("UPDATE roots SET device = ? WHERE path = ?", (device, root))

    def root_patterns(self, root: str) -> dict | None:
        """The include/exclude patterns remembered for a root (JSON), None when it has none."""
        try:
            row = self._db.execute("SELECT patterns FROM roots WHERE path = ?", (root,)).fetchone()
        except sqlite3.OperationalError:  # an index an older ragcli wrote, opened read-only: no column yet
            return None
        return json.loads(row[0]) if row and row[0] else None

    def set_root_patterns(self, root: str, patterns: dict) -> None:
        self._db.execute("UPDATE roots SET patterns = ? WHERE path = ?", (json.dumps(patterns), root))

    def remove_root(self, root: str) -> None:
        """Forget a root; its documents are removed separately."""
        self._db.execute("DELETE FROM roots WHERE path = ?", (root,))
