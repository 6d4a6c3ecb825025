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
import os
import sqlite3
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ragcli.store.catalog.chunks import Chunks, NewChunk, StoredChunk
from ragcli.store.catalog.copies import Copies
from ragcli.store.catalog.documents import Documents, NewDocument, StoredDocument
from ragcli.store.catalog.fulltext import FullText
from ragcli.store.catalog.schema import ADDED_COLUMNS, FORMAT_VERSION, SCHEMA

__all__ = ["Catalog", "FORMAT_VERSION", "NewChunk", "NewDocument", "StoredChunk", "StoredDocument"]


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection. Where the folder cannot be written (read-only media), SQLite cannot
    create the WAL's shared-memory file, so the file is then opened as immutable: nothing can be
    writing to it there."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0, check_same_thread=False)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        if os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, timeout=30.0, check_same_thread=False)


def _missing_columns(connection: sqlite3.Connection) -> str:
    """ALTER statements for the columns an index written by an older ragcli lacks."""
    statements = []
    for table, column, definition in ADDED_COLUMNS:
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if have and column not in have:
            statements.append(f"ALTER TABLE {table} ADD COLUMN {column} {definition};")
    return "".join(statements)


class Catalog:
    def __init__(self, connection: sqlite3.Connection, path: Path, read_only: bool = False) -> None:
        self._db = connection
        self.path = path
        self.read_only = read_only
        self.documents = Documents(connection)
        self.chunks = Chunks(connection)
        self.fulltext = FullText(connection)
        self.copies = Copies(connection)

    @classmethod
    def open(cls, path: Path, *, create: bool, read_only: bool = False) -> "Catalog":
        """Open (with ``create``, create) the catalog. ``read_only`` opens it for reading only,
        which also works on read-only media or an index shared read-only."""
        if not create and not path.exists():
            raise FileNotFoundError(path)
        if read_only:
            return cls(_connect_read_only(path), path, read_only=True)
        if create:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Private before SQLite writes a byte (its -wal and -shm files copy these permissions).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            os.chmod(path, 0o600)
        connection = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        if not create:
            return cls(connection, path)
        had_grams = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunk_grams'").fetchone() is not None
        # One transaction, so that a kill during creation never leaves half a schema behind (nor
        # a CJK table that an older index gained without its rows).
        connection.executescript("BEGIN IMMEDIATE;" + SCHEMA + _missing_columns(connection))
        catalog = cls(connection, path)
        try:
            if not had_grams:
                catalog.fulltext.fill_grams()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return catalog

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
        """A read transaction: everything read inside sees one consistent state. Inside a
        transaction already (a writer's, or an outer snapshot) it is that transaction's state."""
        if self._db.in_transaction:
            yield
            return
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

    def replace_document(self, document: NewDocument, chunks: Iterable[NewChunk]) -> int:
        """Insert or replace one document with its chunks (which may be produced as they are
        written) and their full-text rows; returns how many chunks. Call inside ``transaction()``."""
        old = self.documents.get(document.path)
        if old is not None:
            self.remove_documents([old.id])
        document_id = self.documents.insert(document, 0)
        count = 0
        for chunk in chunks:
            self.fulltext.add(self.chunks.insert(document_id, chunk), chunk.text, chunk.context)
            count += 1
        self.documents.set_chunk_count(document_id, count)
        self.documents.clear_failure(document.path)
        return count

    def remove_documents(self, document_ids: Sequence[int]) -> None:
        """Remove documents with their chunks and full-text rows. Call inside ``transaction()``."""
        self.fulltext.delete_of_documents(document_ids)
        self.chunks.delete_of_documents(document_ids)
        self.documents.delete(document_ids)
