"""The SQLite catalog: documents, chunks (with their vectors), full-text index and metadata.

Every change to documents happens in one transaction and bumps ``generation``,
so a crash leaves the catalog at the previous or the next state, never between.
Vectors live here as float32 blobs; the FAISS file is a cache rebuilt from them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    pages INTEGER,
    chunk_count INTEGER NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    headings TEXT NOT NULL,
    context TEXT NOT NULL,
    text TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_by_embed_hash ON chunks(embed_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5(text, context, tokenize = 'porter unicode61');
CREATE TABLE IF NOT EXISTS failures (path TEXT PRIMARY KEY, error TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
"""

# Words too common to help a keyword search; they only dilute BM25.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or that the this to was what when where "
    "which who why will with you your my me should would could into not no if then than so there their them they "
    "use using used want get".split()
)
_TERM = re.compile(r"\w+", re.UNICODE)
# Word characters joined by - _ . : / (an option, a config key, a dotted name, a path).
_IDENTIFIER = re.compile(r"\w+(?:[-_.:/]+\w+)+", re.UNICODE)


@dataclass(frozen=True)
class StoredDocument:
    id: int
    path: str
    sha256: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class StoredChunk:
    id: int
    path: str
    page: int | None
    title: str
    headings: tuple[str, ...]
    text: str
    kind: str
    # Where the chunk sits in its document, for merging neighbours; the title/heading line it was embedded with.
    document_id: int = 0
    ordinal: int = 0
    context: str = ""


@dataclass(frozen=True)
class NewChunk:
    ordinal: int
    page: int | None
    headings: tuple[str, ...]
    context: str
    text: str
    embed_hash: str
    vector: np.ndarray


def lexical_query(text: str) -> str:
    """An FTS5 query matching any meaningful term of ``text`` (BM25 ranks the rest).

    Identifiers written with inner punctuation (``--force-with-lease``,
    ``git-ls-tree``, ``set.key``) also go in as an exact phrase, so chunks that
    spell them out outrank chunks that merely share their parts.
    """
    terms: list[str] = []
    for identifier in _IDENTIFIER.findall(text):
        words = _TERM.findall(identifier.lower())
        phrase = " ".join(words)
        if len(words) > 1 and phrase not in terms:
            terms.append(phrase)
    for term in _TERM.findall(text.lower()):
        if term not in _STOPWORDS and term not in terms:
            terms.append(term)
    return " OR ".join(f'"{term}"' for term in terms)


class Catalog:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

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
            connection.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        return cls(connection, path)

    def is_initialised(self) -> bool:
        """Whether a writer has committed the index's metadata (false for a file a killed first run left empty)."""
        has_meta = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        return has_meta is not None and self.get_meta("format_version") is not None

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the integrity checker that must look past this API."""
        return self._db

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
            self._bump_generation()
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

    def _bump_generation(self) -> None:
        self.set_meta("generation", self.generation() + 1)

    # -- documents --------------------------------------------------------

    def document(self, path: str) -> StoredDocument | None:
        row = self._db.execute("SELECT id, path, sha256, size, mtime_ns FROM documents WHERE path = ?", (path,)).fetchone()
        return None if row is None else StoredDocument(*row)

    def documents_under(self, root: str) -> list[StoredDocument]:
        """Documents at ``root`` or anywhere below it."""
        prefix = root.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT id, path, sha256, size, mtime_ns FROM documents WHERE path = ? OR substr(path, 1, ?) = ?",
            (root, len(prefix), prefix),
        )
        return [StoredDocument(*row) for row in rows]

    def vectors_for(self, embed_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Already computed vectors for these embedding inputs, so identical text is embedded once."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(embed_hashes))
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            for embed_hash, blob in self._db.execute(
                f"SELECT embed_hash, vector FROM chunks WHERE embed_hash IN ({marks}) GROUP BY embed_hash", batch
            ):
                found[embed_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def replace_document(
        self, *, path: str, sha256: str, size: int, mtime_ns: int, kind: str, title: str, pages: int | None,
        warnings: Sequence[str], chunks: Sequence[NewChunk],
    ) -> int:
        """Insert or replace one document and all its chunks. Call inside ``transaction()``."""
        old = self.document(path)
        if old is not None:
            self._delete_documents([old.id])
        cursor = self._db.execute(
            "INSERT INTO documents(path, sha256, size, mtime_ns, kind, title, pages, chunk_count, warnings, indexed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (path, sha256, size, mtime_ns, kind, title, pages, len(chunks), json.dumps(list(warnings)), time.time()),
        )
        document_id = int(cursor.lastrowid)
        for chunk in chunks:
            cursor = self._db.execute(
                "INSERT INTO chunks(document_id, ordinal, page, headings, context, text, embed_hash, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (document_id, chunk.ordinal, chunk.page, json.dumps(list(chunk.headings)), chunk.context, chunk.text,
                 chunk.embed_hash, np.ascontiguousarray(chunk.vector, dtype=np.float32).tobytes()),
            )
            self._db.execute(
                "INSERT INTO chunk_terms(rowid, text, context) VALUES (?, ?, ?)", (cursor.lastrowid, chunk.text, chunk.context)
            )
        self._db.execute("DELETE FROM failures WHERE path = ?", (path,))
        return document_id

    def touch_document(self, document_id: int, size: int, mtime_ns: int) -> None:
        """Record new stat data for a file whose content did not change."""
        self._db.execute("UPDATE documents SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, document_id))

    def remove_documents(self, document_ids: Sequence[int]) -> None:
        """Remove documents and their chunks. Call inside ``transaction()``."""
        self._delete_documents(document_ids)

    def _delete_documents(self, document_ids: Sequence[int]) -> None:
        for document_id in document_ids:
            self._db.execute(
                "DELETE FROM chunk_terms WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)", (document_id,)
            )
            self._db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            self._db.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def record_failure(self, path: str, error: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO failures(path, error, at) VALUES (?, ?, ?)", (path, error, time.time()))

    def clear_failures_under(self, root: str, keep: set[str]) -> None:
        prefix = root.rstrip("/") + "/"
        rows = self._db.execute(
            "SELECT path FROM failures WHERE path = ? OR substr(path, 1, ?) = ?", (root, len(prefix), prefix)
        ).fetchall()
        for (path,) in rows:
            if path not in keep:
                self._db.execute("DELETE FROM failures WHERE path = ?", (path,))

    def failures(self) -> list[tuple[str, str]]:
        return list(self._db.execute("SELECT path, error FROM failures ORDER BY path"))

    def add_root(self, root: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (root, time.time()))

    def roots(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT path FROM roots ORDER BY path")]

    def remove_root(self, root: str) -> None:
        """Forget a root. Call inside ``transaction()``; its documents are removed separately."""
        self._db.execute("DELETE FROM roots WHERE path = ?", (root,))

    def root_summary(self, root: str) -> tuple[int, int]:
        """How many documents and chunks lie at or below ``root``."""
        prefix = root.rstrip("/") + "/"
        row = self._db.execute(
            "SELECT count(*), coalesce(sum(chunk_count), 0) FROM documents WHERE path = ? OR substr(path, 1, ?) = ?",
            (root, len(prefix), prefix),
        ).fetchone()
        return int(row[0]), int(row[1])

    # -- reading ----------------------------------------------------------

    def all_vectors(self, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk id and its vector, in id order."""
        count = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        ids = np.empty(count, dtype=np.int64)
        vectors = np.empty((count, dimension), dtype=np.float32)
        row = 0
        for chunk_id, blob in self._db.execute("SELECT id, vector FROM chunks ORDER BY id"):
            if row >= count:
                break
            ids[row] = chunk_id
            vectors[row] = np.frombuffer(blob, dtype=np.float32)
            row += 1
        return ids[:row], vectors[:row]

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        for start in range(0, len(chunk_ids), 500):
            batch = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                "SELECT c.id, d.path, c.page, d.title, c.headings, c.text, d.kind, c.document_id, c.ordinal, c.context"
                f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                batch,
            ):
                found[row[0]] = StoredChunk(
                    row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5], row[6], row[7], row[8], row[9]
                )
        return found

    def neighbour_ids(self, document_id: int, low: int, high: int) -> dict[int, tuple[int, int | None]]:
        """Ordinal -> (chunk id, page) for one document's chunks with ordinals in [low, high]."""
        rows = self._db.execute(
            "SELECT ordinal, id, page FROM chunks WHERE document_id = ? AND ordinal BETWEEN ? AND ?", (document_id, low, high)
        )
        return {int(ordinal): (int(chunk_id), page) for ordinal, chunk_id, page in rows}

    def document_kinds(self) -> list[tuple[int, str, str]]:
        """(id, path, kind) of every document, for scoping a search."""
        return [(int(i), p, k) for i, p, k in self._db.execute("SELECT id, path, kind FROM documents")]

    def chunk_ids_of(self, document_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(document_ids), 500):
            batch = list(document_ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            found.update(row[0] for row in self._db.execute(f"SELECT id FROM chunks WHERE document_id IN ({marks})", batch))
        return found

    def lexical_search(
        self, text: str, limit: int, document_ids: Sequence[int] | None, heading_weight: float
    ) -> list[tuple[int, float]]:
        """Chunk ids ranked by BM25 (higher is better), or nothing if no usable term.

        With ``document_ids``, only chunks of those documents are ranked (so a scoped
        search still gets ``limit`` results).
        """
        query = lexical_query(text)
        if not query or (document_ids is not None and not document_ids):
            return []
        # BM25 column weights: chunk text, then its title/heading line.
        weights = f"1.0, {float(heading_weight)!r}"
        scope, arguments = "", [query]
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

    def unknown_terms(self, terms: Sequence[str]) -> list[str]:
        """The terms that no chunk contains (matched as the full-text index tokenizes them)."""
        missing: list[str] = []
        for term in terms:
            words = _TERM.findall(term.lower())
            if not words:
                continue
            phrase = '"' + " ".join(words) + '"'
            if self._db.execute("SELECT 1 FROM chunk_terms WHERE chunk_terms MATCH ? LIMIT 1", (phrase,)).fetchone() is None:
                missing.append(term)
        return missing

    def counts(self) -> dict[str, int]:
        documents, pages = self._db.execute("SELECT count(*), coalesce(sum(pages), 0) FROM documents").fetchone()
        chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        failures = self._db.execute("SELECT count(*) FROM failures").fetchone()[0]
        return {"documents": documents, "pages": pages, "chunks": chunks, "failures": failures}

    def kinds(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT kind, count(*) FROM documents GROUP BY kind ORDER BY kind"))
