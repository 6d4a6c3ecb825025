"""The SQLite catalog: the source of truth for an index.

Every change to documents happens in one transaction and bumps ``generation``,
so a crash leaves the catalog at the previous or the next state, never between.
Vectors live here as float32 blobs; the FAISS file is a cache rebuilt from them.
The tables are reached by concept: ``documents`` (with roots and failures),
``chunks`` (with their vectors) and ``fulltext``; the ``Catalog`` itself owns the
connection, transactions, metadata, and the changes that span tables.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ragcli.store.catalog.chunks import Chunks, NewChunk, StoredChunk
from ragcli.store.catalog.documents import Documents, NewDocument, StoredDocument
from ragcli.store.catalog.fulltext import FullText
from ragcli.store.catalog.schema import FORMAT_VERSION, SCHEMA

__all__ = ["Catalog", "FORMAT_VERSION", "NewChunk", "NewDocument", "StoredChunk", "StoredDocument"]


class Catalog:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self.documents = Documents(connection)
        self.chunks = Chunks(connection)
        self.fulltext = FullText(connection)

    @classmethod
    def open(cls, path: Path, *, create: bool) -> "Catalog":
        if not create and not path.exists():
            raise FileNotFoundError(path)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        if create:
            # One transaction, so that a kill during creation never leaves half a schema behind.
            connection.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        return cls(connection, path)

    def is_initialised(self) -> bool:
        """Whether a writer has committed the index's metadata (false for a file a killed first run left empty)."""
        has_meta = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        return has_meta is not None and self.get_meta("format_version") is not None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self, changes_chunks: bool = True) -> Iterator[None]:
        """Write atomically; ``changes_chunks`` bumps the generation that the vector file is checked against."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if changes_chunks:
            self.set_meta("generation", self.generation() + 1)
        self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: everything read inside sees one consistent state."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # -- metadata ---------------------------------------------------------

    def get_meta(self, key: str, default=None):
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def all_meta(self) -> dict:
        return {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}

    def generation(self) -> int:
        return int(self.get_meta("generation", 0))

    def counts(self) -> dict[str, int]:
        documents, pages = self._db.execute("SELECT count(*), coalesce(sum(pages), 0) FROM documents").fetchone()
        failures = self._db.execute("SELECT count(*) FROM failures").fetchone()[0]
        return {"documents": documents, "pages": pages, "chunks": self.chunks.count(), "failures": failures}

    def quick_check(self) -> list[str]:
        """SQLite's own check of the file: ["ok"], or what is damaged."""
        return [row[0] for row in self._db.execute("PRAGMA quick_check")]

    # -- changes that span tables ---------------------------------------

    def replace_document(self, document: NewDocument, chunks: Sequence[NewChunk]) -> int:
        """Insert or replace one document with all its chunks and their full-text rows. Call inside ``transaction()``."""
        old = self.documents.get(document.path)
        if old is not None:
            self.remove_documents([old.id])
        document_id = self.documents.insert(document, len(chunks))
        for chunk, chunk_id in zip(chunks, self.chunks.insert(document_id, chunks)):
            self.fulltext.add(chunk_id, chunk.text, chunk.context)
        self.documents.clear_failure(document.path)
        return document_id

    def remove_documents(self, document_ids: Sequence[int]) -> None:
        """Remove documents with their chunks and full-text rows. Call inside ``transaction()``."""
        self.fulltext.delete_of_documents(document_ids)
        self.chunks.delete_of_documents(document_ids)
        self.documents.delete(document_ids)
