"""`rag watch`: keep the index in step with its folders as files change.

The folders are watched with inotify (FSEvents, ReadDirectoryChangesW elsewhere) through
watchfiles. A burst of changes (an editor's save, a checkout, an unzip) is gathered until the
folder has been quiet for ``watch.quiet_ms``, then the folders it touched are re-synced by the
same ``ingest()`` that `rag ingest` and cron run, under the same writer lock: a watcher and a
cron run never write at once, the watcher waiting up to ``watch.wait_s`` for the other to finish.
A re-sync reads only what changed (unchanged files cost one stat each), and keeps every guard of
an ingest: a bad file is reported and the rest indexed, a vanished or emptied folder keeps its
documents. A folder that vanishes is watched again when it comes back.

SIGTERM and Ctrl-C stop the watch cleanly, in the middle of a re-sync too: an ingest commits in
batches, and the next one continues where it stopped.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Callable, Sequence

from ragcli.config import Settings
from ragcli.errors import IndexLockedError, RagError
from ragcli.ingest import EventSink, ingest
from ragcli.parsing import is_supported
from ragcli.records import IngestReport

# How often the watch looks for a vanished folder that came back.
_RECHECK_MS = 500


class WatchEventKind(StrEnum):
    WATCHING = "watching"  # the folders now watched (again)
    SYNCED = "synced"  # a re-sync finished: ``report``
    PROBLEM = "problem"  # a re-sync could not run (locked, damaged index): ``message``; retried
    STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True)
class WatchEvent:
    kind: WatchEventKind
    roots: tuple[str, ...] = ()
    # Changed paths that led to this re-sync (none for the first one).
    changes: tuple[str, ...] = ()
    report: IngestReport | None = None
    message: str = ""
    # Folders that do not exist now: their documents are kept, and they are watched again when they return.
    missing: tuple[str, ...] = ()


class _Stop(BaseException):
    """SIGTERM during a re-sync: unwinds the ingest like Ctrl-C does."""


def _remembered_roots(settings: Settings) -> list[str]:
    from ragcli.store.catalog import Catalog
    from ragcli.store.index import CATALOG_NAME

    path = settings.index_path / CATALOG_NAME
    if not path.exists():
        return []
    catalog = Catalog.open(path, create=False, read_only=True)
    try:
        return list(catalog.documents.roots())
    finally:
        catalog.close()


def _relevant(path: str) -> bool:
    """A change worth a re-sync: a file ragcli indexes, or a folder (moved, removed), never in a hidden folder."""
    parts = Path(path).parts
    if any(part.startswith(".") for part in parts[1:-1]):
        return False
    return is_supported(Path(path)) or not Path(path).suffix or os.path.isdir(path)


def _root_of(path: str, roots: Sequence[str]) -> str | None:
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


class _Watcher:
    def __init__(self, settings: Settings, emit: Callable[[WatchEvent], None], on_ingest_event: EventSink | None) -> None:
        self.settings = settings
        self.emit = emit
        self.on_ingest_event = on_ingest_event
        self.embedder = None
        self.syncing = False

    def sync(self, roots: Sequence[str], changes: Sequence[str] = ()) -> bool:
        """Re-sync ``roots``; False when it must be tried again (the index was busy or unwritable)."""
        if self.embedder is None:
            from ragcli.embedding import load_embedder

            self.embedder = load_embedder(self.settings)  # lazy: weights load only when text must be embedded
        self.syncing = True
        try:
            report = ingest(
                self.settings, [Path(root) for root in roots], embedder=self.embedder,
                wait_seconds=self.settings.watch.wait_s, on_event=self.on_ingest_event,
            )
        except IndexLockedError as exc:
            self.emit(WatchEvent(kind=WatchEventKind.PROBLEM, roots=tuple(roots), message=f"{exc}; trying again at the next change"))
            return False
        except RagError as exc:
            self.emit(WatchEvent(kind=WatchEventKind.PROBLEM, roots=tuple(roots), message=f"{exc} ({exc.hint})" if exc.hint else str(exc)))
            return False
        finally:
            self.syncing = False
        self.emit(WatchEvent(kind=WatchEventKind.SYNCED, roots=tuple(roots), changes=tuple(changes), report=report))
        return True


def watch(
    settings: Settings,
    paths: Sequence[Path] = (),
    *,
    on_event: Callable[[WatchEvent], None] | None = None,
    on_ingest_event: EventSink | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Watch ``paths`` (default: the folders the index remembers) and re-sync them as they change,
    until ``stop`` is set, SIGTERM arrives or Ctrl-C is pressed. The first re-sync runs at once."""
    import watchfiles

    emit = on_event or (lambda event: None)
    roots = [os.path.abspath(os.fsdecode(p)) for p in paths] or _remembered_roots(settings)
    if not roots:
        raise RagError("nothing to watch: no path given and the index remembers no folders", hint="Run `rag watch PATH...`.")
    stop = stop or threading.Event()
    watcher = _Watcher(settings, emit, on_ingest_event)
    previous = _on_sigterm(stop, watcher)
    try:
        pending: set[str] = set(roots)  # the first re-sync catches what changed while nobody watched
        changes: list[str] = []
        watched: tuple = ()
        retry = True  # after a failed re-sync, the next change tries again
        while not stop.is_set():
            present = [root for root in roots if os.path.exists(root)]
            missing = tuple(root for root in roots if root not in present)
            if (tuple(present), missing) != watched:
                # A folder that is back (a disk mounted again) is re-synced: it may have changed meanwhile.
                pending.update(root for root in present if watched and root in watched[1])
                watched = (tuple(present), missing)
                emit(WatchEvent(kind=WatchEventKind.WATCHING, roots=tuple(present), missing=missing))
            if not present:
                stop.wait(_RECHECK_MS / 1000)
                continue
            # Re-syncs run inside the loop: the watch records changes while they run, so none is missed.
            for batch in watchfiles.watch(
                *present, watch_filter=lambda change, path: _relevant(path), debounce=settings.watch.max_delay_ms,
                step=settings.watch.quiet_ms, stop_event=stop, rust_timeout=_RECHECK_MS, yield_on_timeout=True,
            ):
                for _change, path in batch:
                    root = _root_of(path, present)
                    if root is not None:
                        pending.add(root)
                        changes.append(path)
                if pending and (retry or batch):
                    retry = watcher.sync(sorted(pending), changes)
                    if retry:
                        pending, changes = set(), []
                if any(os.path.exists(root) for root in missing) or any(not os.path.exists(root) for root in present):
                    retry = True
                    break  # watch the folders that exist now
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        emit(WatchEvent(kind=WatchEventKind.STOPPED, roots=tuple(roots)))


def _on_sigterm(stop: threading.Event, watcher: _Watcher):
    """SIGTERM ends the watch (a re-sync in progress is unwound); the previous handler, or None
    when signals cannot be handled here (not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum, frame) -> None:
        stop.set()
        if watcher.syncing:
            raise _Stop()

    return signal.signal(signal.SIGTERM, handle)

