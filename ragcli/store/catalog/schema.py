"""The catalog's tables, in one transaction-sized script; ``FORMAT_VERSION`` names this layout."""

from __future__ import annotations

FORMAT_VERSION = 1

# The full-text table, also re-created on its own by a repair.
FULLTEXT_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5(text, context, tokenize = 'porter unicode61');"
# Chinese, Japanese and Korean text as character pairs (vocabulary.cjk_grams), one row per chunk
# that has any: added after FORMAT_VERSION 1, filled from the chunks when a writer first opens
# an older index. Also re-created by a repair.
GRAMS_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_grams USING fts5(text, context, tokenize = 'unicode61');"

# Near-duplicate documents (ragcli.copies), added after FORMAT_VERSION 1 and created by a writer
# that opens an older index: each indexed document's sketch, and each copy with the path of the
# document it repeats (a copy is a document row without chunks). Readers of an index that lacks
# them see no copies.
COPIES_TABLES = """
CREATE TABLE IF NOT EXISTS sketches (document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, hash INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sketches_by_hash ON sketches(hash);
CREATE INDEX IF NOT EXISTS sketches_by_document ON sketches(document_id);
CREATE TABLE IF NOT EXISTS copies (document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE, of_path TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS copies_by_original ON copies(of_path);
"""

SCHEMA = f"""
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
{FULLTEXT_TABLE}
{GRAMS_TABLE}
CREATE TABLE IF NOT EXISTS failures (path TEXT PRIMARY KEY, error TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL, device INTEGER, patterns TEXT);
{COPIES_TABLES}"""

# Columns added since FORMAT_VERSION 1 was first written: (table, column, definition). A writer adds
# any that an older index lacks; readers never need them.
ADDED_COLUMNS = (("roots", "device", "INTEGER"), ("roots", "patterns", "TEXT"))


# Documents are keyed by absolute path; "under a root" means the root itself or anything below it.


def _prefix(root: str) -> str:
    return root.rstrip("/") + "/"


def at_or_under(path: str, root: str) -> bool:
    return path == root or path.startswith(_prefix(root))


def under(column: str) -> str:
    """``at_or_under`` in SQL, for ``column``; bind ``under_arguments(root)``."""
    return f"({column} = ? OR substr({column}, 1, ?) = ?)"


def under_arguments(root: str) -> tuple[str, int, str]:
    return root, len(_prefix(root)), _prefix(root)

