"""`rag check`: verify that the index is consistent, and with ``repair`` fix what can be fixed in place."""

from __future__ import annotations

import os
import sqlite3

from ragcli.config import Settings
from ragcli.errors import IndexDamagedError, IndexStateError
from ragcli.store.index import CATALOG_NAME, Index
from ragcli.store.integrity import CheckReport, Finding, inspect, repair
from ragcli.store.lock import writer_lock

REBUILD_HINT = "rebuild it from the documents with `rag ingest --rebuild PATH...`"


def _damaged(settings: Settings, exc: Exception) -> CheckReport:
    report = CheckReport(index=str(settings.index_path))
    report.problems.append(Finding("sqlite", f"the catalog cannot be read: {exc}; {REBUILD_HINT}", 1))
    return report


def _open(settings: Settings, writable: bool) -> Index | CheckReport:
    # Where the index can be written, even a plain check opens it so: the full-text index's own
    # check is a (rolled-back) write. On read-only media it opens read-only and says what it skipped.
    catalog = settings.index_path / CATALOG_NAME
    writable = writable or (os.access(catalog, os.W_OK) and os.access(settings.index_path, os.W_OK))
    try:
        return Index.open_existing(settings, writable=writable)
    except IndexDamagedError as exc:
        return _damaged(settings, exc.__cause__ or exc)


def check_index(settings: Settings, *, repair_damage: bool = False, wait_seconds: float = 0.0) -> CheckReport:
    """Inspect the index; with ``repair_damage``, take the writer lock, repair, and inspect again."""
    if not repair_damage:
        index = _open(settings, writable=False)
        if isinstance(index, CheckReport):
            return index
        try:
            return inspect(index)
        except sqlite3.DatabaseError as exc:
            return _damaged(settings, exc)
        finally:
            index.close()
    with writer_lock(settings.index_path, wait_seconds):
        index = _open(settings, writable=True)
        if isinstance(index, CheckReport):
            return index
        try:
            before = inspect(index)
            if any(finding.code in ("sqlite", "metadata") for finding in before.problems):
                for finding in before.problems:
                    finding.message += f"; not repairable in place: {REBUILD_HINT}"
                return before
            done = repair(index, before)
            after = inspect(index)
            after.repaired = done
            return after
        except sqlite3.DatabaseError as exc:
            raise IndexStateError(f"repair of {settings.index_path} failed: {exc}", hint=REBUILD_HINT.capitalize() + ".") from exc
        finally:
            index.close()
