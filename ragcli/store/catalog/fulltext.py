"""The catalog's full-text index (SQLite FTS5, BM25): one row per chunk, keyed by the chunk id.

It takes FTS5 query expressions; which words of a question make one is the retriever's
business (ragcli.retrieval.query).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from ragcli.store.catalog.schema import FULLTEXT_TABLE


# FTS5's own tables behind chunk_terms.
_SHADOW_TABLES = ("data", "idx", "docsize", "content", "config")


class FullText:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(self, chunk_id: int, text: str, context: str) -> None:
        self._db.execute("INSERT INTO chunk_terms(rowid, text, context) VALUES (?, ?, ?)", (chunk_id, text, context))

    def delete_of_documents(self, document_ids: Sequence[int]) -> None:
        """Remove the rows of these documents' chunks (call before the chunks go)."""
        self._db.executemany(
            "DELETE FROM chunk_terms WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)", [(i,) for i in document_ids]
        )

    def search(self, expression: str, limit: int, document_ids: Sequence[int] | None, heading_weight: float) -> list[tuple[int, float]]:
        """Chunk ids matching the FTS5 ``expression``, best BM25 first (higher is better).

        With ``document_ids``, only chunks of those documents are ranked (so a scoped search
        still gets ``limit`` results).
        """
        if not expression or (document_ids is not None and not document_ids):
            return []
        # BM25 column weights: chunk text, then its title/heading line.
        weights = f"1.0, {float(heading_weight)!r}"
        scope, arguments = "", [expression]
        if document_ids is not None:
            # Passed as a JSON array: no limit on the number of SQL variables.
            scope = " AND rowid IN (SELECT id FROM chunks WHERE document_id IN (SELECT value FROM json_each(?)))"
            arguments.append(json.dumps(list(document_ids)))
        rows = self._db.execute(
            f"SELECT rowid, bm25(chunk_terms, {weights}) FROM chunk_terms WHERE chunk_terms MATCH ?{scope}"
            f" ORDER BY bm25(chunk_terms, {weights}) LIMIT ?",
            (*arguments, limit),
        )
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def has_phrase(self, words: Sequence[str]) -> bool:
        """Whether any chunk contains these words in a row (as the index tokenizes them)."""
        phrase = '"' + " ".join(words) + '"'
        return self._db.execute("SELECT 1 FROM chunk_terms WHERE chunk_terms MATCH ? LIMIT 1", (phrase,)).fetchone() is not None

    # -- integrity ----------------------------------------------------------

    def missing(self) -> int:
        """Chunks without a row, which keyword search cannot find."""
        return int(self._db.execute("SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunk_terms)").fetchone()[0])

    def orphans(self) -> int:
        """Rows that belong to no chunk."""
        return int(self._db.execute("SELECT count(*) FROM chunk_terms WHERE rowid NOT IN (SELECT id FROM chunks)").fetchone()[0])

    def check_structure(self) -> None:
        """FTS5's own integrity check; raises sqlite3.DatabaseError naming the damage.

        SQLite runs it as a write statement, so it runs in a transaction that is rolled back (it
        changes nothing); on a read-only index that raises sqlite3.OperationalError."""
        in_transaction = self._db.in_transaction
        if not in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("INSERT INTO chunk_terms(chunk_terms) VALUES ('integrity-check')")
        finally:
            if not in_transaction:
                self._db.execute("ROLLBACK")

    def _forget_damaged_table(self) -> None:
        """Remove a full-text table too damaged to be opened (FTS5 cannot drop a table it cannot
        construct): its shadow tables are dropped as the plain tables they are, and its schema row
        removed as SQLite's documentation prescribes for a broken virtual table."""
        for shadow in _SHADOW_TABLES:
            self._db.execute(f"DROP TABLE IF EXISTS chunk_terms_{shadow}")
        version = self._db.execute("PRAGMA schema_version").fetchone()[0]
        self._db.execute("PRAGMA writable_schema = ON")
        try:
            self._db.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = 'chunk_terms'")
            # A new schema version makes this connection (and every other) read the schema again.
            self._db.execute(f"PRAGMA schema_version = {int(version) + 1}")
        finally:
            self._db.execute("PRAGMA writable_schema = OFF")

    def rebuild(self) -> None:
        """Re-create the table and every row from the chunks (call inside a transaction). Dropped
        first: deleting rows from a damaged table leaves its damaged index structure behind."""
        try:
            self._db.execute("DROP TABLE IF EXISTS chunk_terms")
        except sqlite3.DatabaseError:
            self._forget_damaged_table()
        self._db.execute(FULLTEXT_TABLE)
        self._db.execute("INSERT INTO chunk_terms(rowid, text, context) SELECT id, text, context FROM chunks")
