"""`rag ingest --rebuild`: build a fresh index beside the live one, then swap it in atomically.

The live index keeps answering searches until the new one is complete. The
staging index is an ordinary index, so a rebuild that is killed resumes
where it stopped the next time ``--rebuild`` runs.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Mapping, Sequence

from ragcli.config import Settings
from ragcli.durable import fsync_path
from ragcli.embedding import Embedder
from ragcli.errors import IndexStateError, RagError
from ragcli.ingest import EventSink, ingest, require_paths
from ragcli.records import IngestReport
from ragcli.store.catalog import Catalog
from ragcli.store.catalog.schema import at_or_under
from ragcli.store.index import CATALOG_NAME
from ragcli.store.lock import writer_lock
from ragcli.walking import Patterns

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


# Written into a staging index when it is started and removed from the live one after the swap:
# a folder at INDEX.rebuild without it is the previous index a kill left behind, never resumed.
STAGING_MARKER = "REBUILDING"


def staging_path(live: Path) -> Path:
    return live.with_name(live.name + ".rebuild")


def _prepare_staging(staging: Path, roots: list[Path]) -> None:
    """Make ``staging`` a rebuild in progress for exactly ``roots``: start it, or resume one whose
    extra roots (folders the live index has since forgotten) are dropped first."""
    if staging.exists() and not (staging / STAGING_MARKER).is_file():
        shutil.rmtree(staging)
    if not staging.exists():
        staging.mkdir(mode=0o700)
        (staging / STAGING_MARKER).write_text("a rebuild in progress; `rag ingest --rebuild` resumes it\n")
        return
    catalog_file = staging / CATALOG_NAME
    if not catalog_file.exists():
        return
    wanted = {str(root) for root in roots}
    try:
        catalog = Catalog.open(catalog_file, create=False)
    except sqlite3.DatabaseError:
        shutil.rmtree(staging)
        return _prepare_staging(staging, roots)
    try:
        documents = catalog.documents
        for root in set(documents.roots()) - wanted:
            keep = [other for other in wanted if at_or_under(other, root) or at_or_under(root, other)]
            doomed = [doc.id for doc in documents.under(root) if not any(at_or_under(doc.path, other) for other in keep)]
            with catalog.transaction():
                catalog.remove_documents(doomed)
                documents.remove_root(root)
    finally:
        catalog.close()


def _remembered_roots(live: Path) -> dict[Path, Patterns]:
    """The live index's folders, each with the include/exclude patterns remembered for it."""
    catalog_file = live / CATALOG_NAME
    if not catalog_file.exists():
        return {}
    try:
        catalog = Catalog.open(catalog_file, create=False)
        try:
            documents = catalog.documents
            return {Path(root): Patterns.from_json(documents.root_patterns(root)) for root in documents.roots()}
        finally:
            catalog.close()
    except sqlite3.DatabaseError:  # a damaged catalog: rebuild from the paths given
        return {}


def exchange_directories(first: Path, second: Path) -> None:
    """Swap two directories in one atomic step where the OS can (Linux renameat2), else in three renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
            fsync_path(second.parent)
            return
        errno = ctypes.get_errno()
        if errno not in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the filesystem cannot exchange; fall back
            raise OSError(errno, os.strerror(errno), str(second))
    # Not atomic: for a moment there is no index at `second`; readers then get "no index" and may retry.
    aside = second.with_name(second.name + ".swap")
    os.rename(second, aside)
    os.rename(first, second)
    os.rename(aside, first)
    fsync_path(second.parent)


def rebuild(
    settings: Settings,
    paths: Sequence[Path],
    *,
    embedder: Embedder | None = None,
    wait_seconds: float = 0.0,
    on_event: EventSink | None = None,
    patterns: Mapping[Path, Patterns] | None = None,
) -> IngestReport:
    """Re-create the index from its documents (all remembered folders plus ``paths``) with the
    current settings; ``patterns`` replace the remembered include/exclude patterns of those paths."""
    live = settings.index_path
    staging = staging_path(live)
    given = [Path(os.path.abspath(p)) for p in paths]
    require_paths(settings, given)
    with writer_lock(live, wait_seconds):
        remembered = _remembered_roots(live)
        roots = list(dict.fromkeys(given + list(remembered)))
        wanted = {**remembered, **{Path(os.path.abspath(p)): value for p, value in (patterns or {}).items()}}
        if not roots:
            raise RagError(
                f"nothing to rebuild: no path given and index {live} remembers no folders",
                hint="Run `rag ingest --rebuild PATH...`.",
            )
        gone = [root for root in roots if not os.path.lexists(root)]
        if gone:
            # The rebuilt index would hold nothing from a folder that is away for now (an unmounted
            # disk): its documents would be lost at the swap.
            raise RagError(
                f"cannot rebuild: the remembered folder {gone[0]} is missing; nothing was changed",
                hint=f"Mount or restore it and run again, or forget it first with `rag sources remove {gone[0]}`.",
            )
        staged = dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(staging)))
        _prepare_staging(staging, roots)
        try:
            report = ingest(staged, roots, embedder=embedder, on_event=on_event, patterns=wanted)
        except IndexStateError:
            # A leftover from a rebuild with other settings cannot be resumed: start it afresh.
            shutil.rmtree(staging)
            _prepare_staging(staging, roots)
            report = ingest(staged, roots, embedder=embedder, on_event=on_event, patterns=wanted)
        exchange_directories(staging, live)
        (live / STAGING_MARKER).unlink(missing_ok=True)
        # `staging` now holds the previous index; nobody opens it by this name any more.
        shutil.rmtree(staging, ignore_errors=True)
    return report
