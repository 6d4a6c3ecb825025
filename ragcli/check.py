"""`rag check`: verify that the index is consistent, and with ``repair`` fix what can be fixed in place."""

from __future__ import annotations

import sqlite3

from ragcli.config import Settings
from ragcli.errors import IndexStateError
from ragcli.store.index import Index
from ragcli.store.integrity import CheckReport, Finding, inspect, repair
from ragcli.store.lock import writer_lock

REBUILD_HINT = "rebuild it from the documents with `rag ingest --rebuild PATH...`"


def _damaged(settings: Settings, exc: Exception) -> CheckReport:
    report = CheckReport(index=str(settings.index_path))
    report.problems.append(Finding("sqlite", f"the catalog cannot be read: {exc}; {REBUILD_HINT}", 1))
    return report


def check_index(settings: Settings, *, repair_damage: bool = False, wait_seconds: float = 0.0) -> CheckReport:
    """Inspect the index; with ``repair_damage``, take the writer lock, repair, and inspect again."""
    if not repair_damage:
        try:
            index = Index.open_for_reading(settings)
        except sqlite3.DatabaseError as exc:
            return _damaged(settings, exc)
        try:
            return inspect(index)
        except sqlite3.DatabaseError as exc:
            return _damaged(settings, exc)
        finally:
            index.close()
    with writer_lock(settings.index_path, wait_seconds):
        try:
            index = Index.open_for_reading(settings)
        except sqlite3.DatabaseError as exc:
            return _damaged(settings, exc)
        try:
            before = inspect(index, writer=True)
            if any(finding.code in ("sqlite", "metadata") for finding in before.problems):
                for finding in before.problems:
                    finding.message += f"; not repairable in place: {REBUILD_HINT}"
                return before
            done = repair(index, before)
            after = inspect(index, writer=True)
            after.repaired = done
            return after
        except sqlite3.DatabaseError as exc:
            raise IndexStateError(f"repair of {settings.index_path} failed: {exc}", hint=REBUILD_HINT.capitalize() + ".") from exc
        finally:
            index.close()
