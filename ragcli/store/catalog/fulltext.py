"""The catalog's full-text index (SQLite FTS5, BM25): one row per chunk, keyed by the chunk id,
and beside it the CJK index: the character pairs of the chunks that hold Chinese, Japanese or
Korean text (``chunk_grams``), which the words index cannot cut into words.

Both take FTS5 query expressions; which words of a question make one is the retriever's
business (ragcli.retrieval.query).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from ragcli.store.catalog.schema import FULLTEXT_TABLE, GRAMS_TABLE
from ragcli.vocabulary import cjk_grams


# FTS5's own tables behind chunk_terms.
_SHADOW_TABLES = ("data", "idx", "docsize", "content", "config")
WORDS, GRAMS = "chunk_terms", "chunk_grams"


def grams_row(text: str, context: str) -> tuple[str, str] | None:
    """The CJK index's row for a chunk: its text and context as character pairs; None without CJK."""
    text_grams, context_grams = cjk_grams(text), cjk_grams(context)
    return (" ".join(text_grams), " ".join(context_grams)) if text_grams or context_grams else None


class FullText:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._has_grams: bool | None = None

    def add(self, chunk_id: int, text: str, context: str) -> None:
        self._db.execute("INSERT INTO chunk_terms(rowid, text, context) VALUES (?, ?, ?)", (chunk_id, text, context))
        row = grams_row(text, context)
        if row is not None and self.has_grams():  # a catalog an older ragcli created gains it when a writer opens it
            self._db.execute("INSERT INTO chunk_grams(rowid, text, context) VALUES (?, ?, ?)", (chunk_id, *row))

    def delete_of_documents(self, document_ids: Sequence[int]) -> None:
        """Remove the rows of these documents' chunks (call before the chunks go)."""
        for table in (WORDS, GRAMS) if self.has_grams() else (WORDS,):
            self._db.executemany(
                f"DELETE FROM {table} WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)", [(i,) for i in document_ids]
            )

    def has_grams(self) -> bool:
        """Whether the index has a CJK table (one made by an older ragcli and never written since has not)."""
        if self._has_grams is None:
            found = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (GRAMS,)).fetchone()
            self._has_grams = found is not None
        return self._has_grams

    def fill_grams(self) -> int:
        """Add the CJK rows of every chunk (an index made before the CJK table); call inside a transaction."""
        count = 0
        for chunk_id, text, context in self._db.execute("SELECT id, text, context FROM chunks"):
            row = grams_row(text, context)
            if row is not None:
                self._db.execute("INSERT INTO chunk_grams(rowid, text, context) VALUES (?, ?, ?)", (chunk_id, *row))
                count += 1
        return count

    def search(
        self, expression: str, limit: int, document_ids: Sequence[int] | None, heading_weight: float, table: str = WORDS
    ) -> list[tuple[int, float]]:
        """Chunk ids matching the FTS5 ``expression`` in ``table`` (WORDS, or GRAMS for CJK
        character pairs), best BM25 first (higher is better).

        With ``document_ids``, only chunks of those documents are ranked (so a scoped search
        still gets ``limit`` results).
        """
        if not expression or (document_ids is not None and not document_ids):
            return []
        if table == GRAMS and not self.has_grams():
            return []
        # BM25 column weights: chunk text, then its title/heading line.
        weights = f"1.0, {float(heading_weight)!r}"
        scope, arguments = "", [expression]
        if document_ids is not None:
            # Passed as a JSON array: no limit on the number of SQL variables.
            scope = " AND rowid IN (SELECT id FROM chunks WHERE document_id IN (SELECT value FROM json_each(?)))"
            arguments.append(json.dumps(list(document_ids)))
        rows = self._db.execute(
            f"SELECT rowid, bm25({table}, {weights}) FROM {table} WHERE {table} MATCH ?{scope}"
            f" ORDER BY bm25({table}, {weights}) LIMIT ?",
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
        """Rows (of either table) that belong to no chunk."""
        tables = (WORDS, GRAMS) if self.has_grams() else (WORDS,)
        return sum(
            int(self._db.execute(f"SELECT count(*) FROM {table} WHERE rowid NOT IN (SELECT id FROM chunks)").fetchone()[0])
            for table in tables
        )

    def check_structure(self) -> None:
        """FTS5's own integrity check; raises sqlite3.DatabaseError naming the damage.

        SQLite runs it as a write statement, so it runs in a transaction that is rolled back (it
        changes nothing); on a read-only index that raises sqlite3.OperationalError."""
        in_transaction = self._db.in_transaction
        if not in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            for table in (WORDS, GRAMS) if self.has_grams() else (WORDS,):
                self._db.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
        finally:
            if not in_transaction:
                self._db.execute("ROLLBACK")

    def _forget_damaged_table(self, table: str) -> None:
        """Remove a full-text table too damaged to be opened (FTS5 cannot drop a table it cannot
        construct): its shadow tables are dropped as the plain tables they are, and its schema row
        removed as SQLite's documentation prescribes for a broken virtual table."""
        for shadow in _SHADOW_TABLES:
            self._db.execute(f"DROP TABLE IF EXISTS {table}_{shadow}")
        version = self._db.execute("PRAGMA schema_version").fetchone()[0]
        self._db.execute("PRAGMA writable_schema = ON")
        try:
            self._db.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
            # A new schema version makes this connection (and every other) read the schema again.
            self._db.execute(f"PRAGMA schema_version = {int(version) + 1}")
        finally:
            self._db.execute("PRAGMA writable_schema = OFF")

    def rebuild(self) -> None:
        """Re-create both tables and every row from the chunks (call inside a transaction). Dropped
        first: deleting rows from a damaged table leaves its damaged index structure behind."""
        for table, create in ((WORDS, FULLTEXT_TABLE), (GRAMS, GRAMS_TABLE)):
            try:
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            except sqlite3.DatabaseError:
                self._forget_damaged_table(table)
            self._db.execute(create)
        self._has_grams = True
        self._db.execute("INSERT INTO chunk_terms(rowid, text, context) SELECT id, text, context FROM chunks")
        self.fill_grams()
