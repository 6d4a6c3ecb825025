"""`rag ingest`: walk, parse, chunk, embed and store, incrementally and under the writer lock."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from ragcli.chunking import ChunkingPlan, iter_chunks
from ragcli.config import Settings
from ragcli.embedding import Embedder, load_embedder
from ragcli.errors import IndexDamagedError, RagError, UsageError
from ragcli.parsing import PARSER_REVISION
from ragcli.parsing.pool import ParseOutcome, ParserPool
from ragcli.records import Chunk, EventKind, FileFailure, FileStatus, IngestEvent, IngestReport, ParsedDocument
from ragcli.store.catalog import NewChunk, NewDocument
from ragcli.store.catalog.schema import at_or_under
from ragcli.store.index import CATALOG_NAME, Index
from ragcli.store.lock import writer_lock
from ragcli.walking import Candidate, Patterns, Skip, walk

# Files are written in batches: bounded memory, and a killed run keeps what it finished.
BATCH_FILES = 64
BATCH_CHUNKS = 512


EventSink = Callable[[IngestEvent], None]


@dataclass(frozen=True, kw_only=True)
class _Job:
    """A file that must be parsed, with the stat taken before parsing."""

    path: str
    size: int
    mtime_ns: int
    replaces: bool


@dataclass(kw_only=True)
class _Pending:
    """A parsed and chunked file waiting for its batch to be embedded and committed."""

    job: _Job
    sha256: str
    document: ParsedDocument
    chunks: list[Chunk]


def _embed_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _file_sha256(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        digest = hashlib.sha256()
        while block := os.read(fd, 1 << 20):
            digest.update(block)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _absolute(path: Path) -> str:
    return os.path.abspath(os.fsdecode(path))


def _storable(path: str) -> bool:
    """File names with undecodable bytes become surrogates that SQLite cannot store."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class _Run:
    def __init__(self, settings: Settings, index: Index, embedder: Embedder, emit: EventSink, reread: bool = False) -> None:
        self.settings = settings
        # The parsers changed since this index was built: unchanged files are parsed again too.
        self.reread = reread
        self.index = index
        self.catalog = index.catalog
        self.embedder = embedder
        self.emit = emit
        self.report = IngestReport()
        self.pending: list[_Pending] = []
        window = embedder.max_tokens
        self.plan = ChunkingPlan(
            max_tokens=min(settings.chunking.tokens, window), overlap_tokens=settings.chunking.overlap, window=window
        )
        self.max_bytes = int(settings.parsing.max_file_mb * 1024 * 1024)

    def fail(self, path: str, reason: str) -> None:
        self.report.failed.append(FileFailure(path=path, error=reason))
        with self.catalog.transaction(changes_chunks=False):
            self.catalog.documents.record_failure(path, reason)
        self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.FAILED, detail=reason))

    def prepare(self, candidate: Candidate) -> _Job | None:
        """Decide whether a file needs parsing; report problems and unchanged files on the spot."""
        path = _absolute(candidate.path)
        if not _storable(path):
            self.fail(_printable(path), "file name is not valid UTF-8; rename the file to index it")
            return None
        if candidate.skip is Skip.DUPLICATE:
            return None
        if candidate.skip is Skip.EXCLUDED:
            self.report.excluded += 1
            return None
        if candidate.skip is not None:
            self.report.skipped.append(FileFailure(path=path, error=str(candidate.skip)))
            self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.SKIPPED, detail=str(candidate.skip)))
            return None
        if candidate.problem:
            self.fail(path, candidate.problem)
            return None
        try:
            info = os.stat(path)
        except OSError as exc:
            self.fail(path, f"file vanished or cannot be read: {exc.strerror}")
            return None
        if not stat.S_ISREG(info.st_mode):
            self.fail(path, "not a regular file (device, FIFO or socket)")
            return None
        stored = self.catalog.documents.get(path)
        if stored is not None and not self.reread and stored.size == info.st_size and stored.mtime_ns == info.st_mtime_ns:
            self._unchanged(path)
            return None
        if info.st_size > self.max_bytes:
            self.fail(path, f"file is {info.st_size / 2**20:.1f} MB, over the parsing.max_file_mb limit of {self.settings.parsing.max_file_mb:g} MB")
            return None
        if stored is not None and not self.reread:
            # Touched but identical: hash it here (streaming, never a FIFO) rather than parse it again.
            try:
                sha256 = _file_sha256(path)
            except OSError as exc:
                self.fail(path, f"cannot read file: {exc.strerror}")
                return None
            if stored.sha256 == sha256:
                with self.catalog.transaction(changes_chunks=False):
                    self.catalog.documents.touch(stored.id, info.st_size, info.st_mtime_ns)
                self._unchanged(path)
                return None
        return _Job(path=path, size=info.st_size, mtime_ns=info.st_mtime_ns, replaces=stored is not None)

    def accept(self, job: _Job, outcome: ParseOutcome) -> None:
        """Chunk a parsed file and queue it for embedding, or report why it could not be parsed."""
        if outcome.document is None:
            self.fail(job.path, outcome.error or "cannot parse the file")
            return
        document = outcome.document
        chunks = iter_chunks(document.sections, document.title, self.embedder.count_tokens, self.plan)
        head = list(itertools.islice(chunks, BATCH_CHUNKS + 1))
        if len(head) > BATCH_CHUNKS:
            # A large document is chunked, embedded and written a slice at a time, in a transaction of
            # its own, so memory holds one slice of chunks and vectors however large the file.
            self.flush()
            self._write_large(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=head), chunks)
            return
        self.pending.append(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=head))
        if len(self.pending) >= BATCH_FILES or sum(len(p.chunks) for p in self.pending) >= BATCH_CHUNKS:
            self.flush()

    def _unchanged(self, path: str) -> None:
        self.report.unchanged += 1
        self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.UNCHANGED))

    def _vectors(self, chunks: Sequence[Chunk]) -> tuple[list[str], dict[str, np.ndarray]]:
        """The embedding hashes of ``chunks`` and their vectors: reused where the catalog holds the
        same text (this transaction's rows included), embedded in one call otherwise."""
        hashes = [_embed_hash(chunk.embedding_text) for chunk in chunks]
        texts = dict(zip(hashes, (chunk.embedding_text for chunk in chunks)))
        vectors = self.catalog.chunks.vectors_for(list(texts))
        missing = [h for h in texts if h not in vectors]
        if missing:
            vectors.update(zip(missing, self.embedder.embed([texts[h] for h in missing])))
        return hashes, vectors

    @staticmethod
    def _new_chunks(chunks: Sequence[Chunk], hashes: Sequence[str], vectors: dict[str, np.ndarray]) -> list[NewChunk]:
        return [
            NewChunk(ordinal=c.ordinal, page=c.page, headings=c.headings, context=c.context, text=c.text, embed_hash=h,
                     vector=np.asarray(vectors[h]))
            for c, h in zip(chunks, hashes)
        ]

    @staticmethod
    def _new_document(item: _Pending) -> NewDocument:
        pages = [s.page for s in item.document.sections if s.page is not None]
        return NewDocument(
            path=item.job.path, sha256=item.sha256, size=item.job.size, mtime_ns=item.job.mtime_ns,
            kind=item.document.kind, title=item.document.title, pages=max(pages) if pages else None,
            warnings=item.document.warnings,
        )

    def flush(self) -> None:
        """Embed what is pending (reusing vectors of identical text) and commit it in one transaction."""
        if not self.pending:
            return
        # Every pending file's chunks in one embedding call: full batches for small files.
        hashes, vectors = self._vectors([chunk for item in self.pending for chunk in item.chunks])
        with self.catalog.transaction():
            start = 0
            for item in self.pending:
                end = start + len(item.chunks)
                self.catalog.replace_document(self._new_document(item), self._new_chunks(item.chunks, hashes[start:end], vectors))
                start = end
        for item in self.pending:
            self._indexed(item, len(item.chunks))
        self.pending.clear()

    def _write_large(self, item: _Pending, rest: Iterator[Chunk]) -> None:
        def sliced() -> Iterator[NewChunk]:
            for part in itertools.chain([item.chunks], iter(lambda: list(itertools.islice(rest, BATCH_CHUNKS)), [])):
                yield from self._new_chunks(part, *self._vectors(part))

        with self.catalog.transaction():
            count = self.catalog.replace_document(self._new_document(item), sliced())
        self._indexed(item, count)

    def _indexed(self, item: _Pending, chunks: int) -> None:
        self.report.indexed += 1
        self.report.updated += item.job.replaces
        self.report.chunks += chunks
        warnings = "; ".join(item.document.warnings)
        if warnings:
            self.report.warnings.append(FileFailure(path=item.job.path, error=warnings))
        status = FileStatus.UPDATED if item.job.replaces else FileStatus.INDEXED
        detail = f"{chunks} chunks" + (f"; {warnings}" if warnings else "")
        self.emit(IngestEvent(kind=EventKind.FILE, path=item.job.path, status=status, detail=detail))

    def remove_missing(self, root: Path, seen: set[str], unreadable: list[str]) -> None:
        """Remove documents under ``root`` that the walk did not see, except under directories it
        could not read, and except when the root itself looks unmounted or emptied."""
        root_path = _absolute(root)
        documents = self.catalog.documents
        indexed = documents.under(root_path)
        gone = [
            doc for doc in indexed
            if doc.path not in seen and not any(at_or_under(doc.path, directory) for directory in unreadable)
        ]
        device = os.stat(root_path).st_dev if os.path.isdir(root_path) else None
        recorded = documents.root_device(root_path)
        emptied = bool(indexed) and not seen
        moved = recorded is not None and device is not None and device != recorded and len(gone) * 2 > len(indexed)
        if gone and (emptied or moved):
            why = "holds none of its files now" if emptied else "is on another device than before, and most of its files are gone"
            self.fail(root_path, (
                f"remembered folder {why} (an unmounted or emptied disk?): its {len(indexed)} documents are kept; "
                f"if the files were removed on purpose, run `rag sources remove {root_path}`"
            ))
            gone = []
        if gone:
            with self.catalog.transaction():
                self.catalog.remove_documents([doc.id for doc in gone])
            for doc in gone:
                self.report.removed += 1
                self.emit(IngestEvent(kind=EventKind.FILE, path=doc.path, status=FileStatus.REMOVED))
        failed_now = {failure.path for failure in self.report.failed}
        with self.catalog.transaction(changes_chunks=False):
            documents.clear_failures_under(root_path, failed_now)
            if device is not None and not (emptied or moved):
                documents.set_root_device(root_path, device)


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


def require_paths(settings: Settings, paths: Sequence[Path]) -> None:
    """Refuse, before anything is created or locked, a run that can only be a mistake: a path
    given that does not exist (a typo must not leave an index, or a failure, behind), or no path
    and no index to re-sync."""
    missing = [str(path) for path in paths if not os.path.lexists(path)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UsageError(
            f"no such file or folder: {_printable(missing[0])}{more}; nothing was indexed or changed",
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
        try:
            roots = _outermost([Path(_absolute(p)) for p in paths] or [Path(p) for p in index.catalog.documents.roots()])
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
            documents = index.catalog.counts()["documents"]
            if documents == 0 and index.catalog.get_meta("parser_revision") is None:
                # A new index is read by today's parsers from its first file on: a first run that is
                # killed and resumed must not read everything again.
                with index.catalog.transaction(changes_chunks=False):
                    index.catalog.set_meta("parser_revision", PARSER_REVISION)
            reread = index.catalog.get_meta("parser_revision") != PARSER_REVISION and documents > 0
            run = _Run(settings, index, embedder, emit, reread)
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
                for root, wanted in {Path(_absolute(p)): wanted for p, wanted in (patterns or {}).items()}.items():
                    if root in present:
                        index.catalog.documents.set_root_patterns(str(root), wanted.to_json())
            in_force = patterns_in_force(settings, index.catalog.documents)
            candidates = list(walk(present, follow_links=settings.ingest.follow_links, patterns=in_force))
            why = "the parsers changed since this index was built: every file is read again once (vectors of unchanged text are reused)"
            total = sum(1 for c in candidates if c.skip is not Skip.EXCLUDED)
            emit(IngestEvent(kind=EventKind.START, total=total, detail=why if reread else ""))
            seen_by_root: dict[Path, set[str]] = {root: set() for root in present}

            def jobs():
                for candidate in candidates:
                    # A file passed over on purpose is not in the folder as far as the index goes (a
                    # link out of the folders that an older ragcli followed is removed); a file that
                    # failed keeps its previous version.
                    if candidate.skip is None:
                        seen_by_root[candidate.root].add(_printable(_absolute(candidate.path)))
                    job = run.prepare(candidate)
                    if job is not None:
                        yield job

            # Workers parse the next files while this thread chunks and embeds the ones already parsed.
            with ParserPool(settings.parsing) as pool:
                for job, outcome in pool.parse_in_order(jobs(), lambda job: job.path):
                    run.accept(job, outcome)
            run.flush()
            unreadable = [_absolute(c.path) for c in candidates if c.unreadable_directory]
            for root in present:
                run.remove_missing(root, seen_by_root[root], unreadable)
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
            index.close()
