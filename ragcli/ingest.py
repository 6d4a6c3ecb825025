"""`rag ingest`: walk, parse, chunk, embed and store, incrementally and under the writer lock."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ragcli.config import Settings
from ragcli.embedding import Embedder, load_embedder
from ragcli.errors import IndexDamagedError, RagError, UsageError
from ragcli.parsing import PARSER_REVISION
from ragcli.parsing.pool import ParserPool
from ragcli.records import EventKind, FileFailure, IngestEvent, IngestReport
from ragcli.store.index import CATALOG_NAME, Index
from ragcli.store.lock import writer_lock
from ragcli.walking import Patterns, Skip, walk
from ragcli.ingest_files import EventSink, FileRun, absolute, printable  # noqa: F401  (EventSink: for callers)


def _outermost(roots: list[Path]) -> list[Path]:
    """Drop duplicates and roots inside other roots, so no file is visited twice."""
    unique = list(dict.fromkeys(roots))
    return [root for root in unique if not any(other != root and other in root.parents for other in unique)]


def patterns_in_force(settings: Settings, documents) -> Callable[[Path], list[tuple[Path, Patterns]]]:
    """For a root: the configured patterns (relative to it), then those remembered for it and for
    every remembered folder above it (relative to that folder), outermost first."""
    configured = Patterns(settings.ingest.include, settings.ingest.exclude)
    remembered = {Path(root): Patterns.from_json(documents.root_patterns(root)) for root in documents.roots()}

    def for_root(root: Path) -> list[tuple[Path, Patterns]]:
        above = sorted((folder for folder in remembered if folder == root or folder in root.parents), key=lambda f: len(f.parts))
        return [(root, configured)] + [(folder, remembered[folder]) for folder in above if remembered[folder]]

    return for_root


def _reader(settings: Settings, embedder: Embedder, emit: EventSink):
    """What reads the files: the local parser pool, or the Ray cluster of ``ingest.ray``."""
    if not settings.ingest.ray:
        return ParserPool(settings.parsing)
    from ragcli.cluster.pool import RayPool

    emit(IngestEvent(kind=EventKind.PHASE, detail=f"joining the Ray cluster ({settings.ingest.ray})"))
    pool = RayPool(settings, embedder.id)
    emit(IngestEvent(kind=EventKind.PHASE, detail=f"reading on the Ray cluster: {pool.cpus} CPUs on {pool.node_count} node{'' if pool.node_count == 1 else 's'}"))
    return pool


def require_paths(settings: Settings, paths: Sequence[Path]) -> None:
    """Refuse, before anything is created or locked, a run that can only be a mistake: a path
    given that does not exist (a typo must not leave an index, or a failure, behind), or no path
    and no index to re-sync."""
    missing = [str(path) for path in paths if not os.path.lexists(path)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UsageError(
            f"no such file or folder: {printable(missing[0])}{more}; nothing was indexed or changed",
            hint="Check the path. A remembered folder that is gone for now (an unmounted disk) keeps its documents: run `rag ingest` with no path to re-sync the others.",
        )
    if not paths and not (settings.index_path / CATALOG_NAME).exists():
        raise UsageError(f"nothing to ingest: no path given and there is no index at {settings.index_path} yet", hint="Run `rag ingest PATH...`.")


def ingest(
    settings: Settings,
    paths: Sequence[Path],
    *,
    embedder: Embedder | None = None,
    wait_seconds: float = 0.0,
    on_event: EventSink | None = None,
    patterns: Mapping[Path, Patterns] | None = None,
) -> IngestReport:
    """Bring the index up to date with the files under ``paths`` (or all remembered roots).

    ``patterns``: include/exclude patterns to remember for these roots (replacing what they had),
    so that every later re-sync, from cron or `rag watch`, leaves out the same files."""
    started = time.monotonic()
    emit = on_event or (lambda event: None)
    require_paths(settings, paths)
    with writer_lock(settings.index_path, wait_seconds):
        embedder = embedder or load_embedder(settings)
        index = Index.open_for_writing(settings, embedder.id, embedder.dimension)
        readers: list = []
        try:
            roots = _outermost([Path(absolute(p)) for p in paths] or [Path(p) for p in index.catalog.documents.roots()])
            if not roots:
                raise RagError("nothing to ingest: no path given and the index remembers no folders", hint="Run `rag ingest PATH...`.")
            try:
                damage = index.catalog.quick_check()
            except sqlite3.DatabaseError as exc:
                damage = [str(exc)]
            if damage != ["ok"]:
                # Writing on would bury the damage under a run that looks successful.
                raise IndexDamagedError(
                    f"index {index.directory} is damaged ({'; '.join(damage[:2])}); nothing was changed",
                    hint="See what `rag check` finds; `rag ingest --rebuild PATH...` builds it again from your documents.",
                )
            # A cluster that cannot be joined stops the run before anything is written.
            pool = _reader(settings, embedder, emit)
            readers.append(pool)
            documents = index.catalog.counts()["documents"]
            if documents == 0 and index.catalog.get_meta("parser_revision") is None:
                # A new index is read by today's parsers from its first file on: a first run that is
                # killed and resumed must not read everything again.
                with index.catalog.transaction(changes_chunks=False):
                    index.catalog.set_meta("parser_revision", PARSER_REVISION)
            reread = index.catalog.get_meta("parser_revision") != PARSER_REVISION and documents > 0
            run = FileRun(settings, index, embedder, emit, reread)
            present = [root for root in roots if os.path.lexists(root)]
            for root in roots:
                if root not in present:
                    kept = index.catalog.documents.summary_under(str(root))[0]
                    run.fail(str(root), "the remembered folder is missing (an unmounted disk?): " + (
                        f"its {kept} documents are kept" if kept else "none of its documents is indexed")
                        + f"; if it was removed on purpose, run `rag sources remove {root}`")
            with index.catalog.transaction(changes_chunks=False):
                for root in present:
                    index.catalog.documents.add_root(str(root))
                for root, wanted in {Path(absolute(p)): wanted for p, wanted in (patterns or {}).items()}.items():
                    if root in present:
                        index.catalog.documents.set_root_patterns(str(root), wanted.to_json())
            in_force = patterns_in_force(settings, index.catalog.documents)
            candidates = list(walk(present, follow_links=settings.ingest.follow_links, patterns=in_force))
            why = "the parsers changed since this index was built: every file is read again once (vectors of unchanged text are reused)"
            total = sum(1 for c in candidates if c.skip is not Skip.EXCLUDED)
            work = sum(run.expected_bytes(c) for c in candidates)
            emit(IngestEvent(kind=EventKind.START, total=total, total_bytes=work, detail=why if reread else ""))
            seen_by_root: dict[Path, set[str]] = {root: set() for root in present}

            def jobs():
                for candidate in candidates:
                    # A file passed over on purpose is not in the folder as far as the index goes (a
                    # link out of the folders that an older ragcli followed is removed); a file that
                    # failed keeps its previous version.
                    if candidate.skip is None:
                        seen_by_root[candidate.root].add(printable(absolute(candidate.path)))
                    job = run.prepare(candidate)
                    if job is not None:
                        yield job

            # Workers parse the next files while this thread chunks and embeds the ones already parsed
            # (on a Ray cluster, they chunk and embed too, and this thread only writes).
            with pool:
                for job, outcome in pool.parse_in_order(jobs(), lambda job: job.path):
                    run.accept(job, outcome)
                run.flush()
                unreadable = [absolute(c.path) for c in candidates if c.unreadable_directory]
                for root in present:
                    run.remove_missing(root, seen_by_root[root], unreadable)
                again = run.copies_to_recheck()
                if again:
                    rechecks = (job for job in map(run.recheck, again) if job is not None)
                    for job, outcome in pool.parse_in_order(rechecks, lambda job: job.path):
                        run.accept(job, outcome)
                    run.flush()
                run.report.cluster = getattr(pool, "summary", lambda: None)()
            index.refresh_vector_file()
            if index.damaged_vectors:
                run.report.warnings.append(FileFailure(path=str(index.directory), error=(
                    f"{index.damaged_vectors} chunks have damaged vectors and are left out of the vector search; "
                    "run `rag check --repair`")))
            with index.catalog.transaction(changes_chunks=False):
                run.report.seconds = time.monotonic() - started
                index.catalog.set_meta("last_ingest", {"at": time.time(), **run.report.to_json()})
                # Only a run over every remembered folder has read all documents with today's parsers.
                if {str(root) for root in present} >= set(index.catalog.documents.roots()):
                    index.catalog.set_meta("parser_revision", PARSER_REVISION)
            emit(IngestEvent(kind=EventKind.FINISH))
            return run.report
        finally:
            for reader in readers:
                reader.close()
            index.close()
