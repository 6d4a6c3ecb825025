"""`rag ingest`: walk, parse, chunk, embed and store, incrementally and under the writer lock."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ragcli.chunking import ChunkingPlan, chunk_sections
from ragcli.config import Settings
from ragcli.embedding import Embedder, load_embedder
from ragcli.errors import RagError
from ragcli.parsing import PARSER_REVISION
from ragcli.parsing.pool import ParseOutcome, ParserPool
from ragcli.records import Chunk, EventKind, FileFailure, FileStatus, IngestEvent, IngestReport, ParsedDocument
from ragcli.store.catalog import NewChunk, NewDocument
from ragcli.store.catalog.schema import at_or_under
from ragcli.store.index import Index
from ragcli.store.lock import writer_lock
from ragcli.walking import Candidate, walk

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
    hashes: list[str] = field(default_factory=list)


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
        if candidate.duplicate:
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
        chunks = chunk_sections(document.sections, document.title, self.embedder.count_tokens, self.plan)
        self.pending.append(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=chunks))
        if len(self.pending) >= BATCH_FILES or sum(len(p.chunks) for p in self.pending) >= BATCH_CHUNKS:
            self.flush()

    def _unchanged(self, path: str) -> None:
        self.report.unchanged += 1
        self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.UNCHANGED))

    def flush(self) -> None:
        """Embed what is pending (reusing vectors of identical text) and commit it in one transaction."""
        if not self.pending:
            return
        texts: dict[str, str] = {}
        for item in self.pending:
            item.hashes = [_embed_hash(chunk.embedding_text) for chunk in item.chunks]
            for chunk, embed_hash in zip(item.chunks, item.hashes):
                texts.setdefault(embed_hash, chunk.embedding_text)
        vectors = self.catalog.chunks.vectors_for(list(texts))
        missing = [h for h in texts if h not in vectors]
        if missing:
            computed = self.embedder.embed([texts[h] for h in missing])
            vectors.update(zip(missing, computed))
        with self.catalog.transaction():
            for item in self.pending:
                pages = [s.page for s in item.document.sections if s.page is not None]
                document = NewDocument(
                    path=item.job.path, sha256=item.sha256, size=item.job.size, mtime_ns=item.job.mtime_ns,
                    kind=item.document.kind, title=item.document.title, pages=max(pages) if pages else None,
                    warnings=item.document.warnings,
                )
                chunks = [
                    NewChunk(ordinal=c.ordinal, page=c.page, headings=c.headings, context=c.context, text=c.text, embed_hash=h,
                             vector=np.asarray(vectors[h]))
                    for c, h in zip(item.chunks, item.hashes)
                ]
                self.catalog.replace_document(document, chunks)
        for item in self.pending:
            self.report.indexed += 1
            self.report.updated += item.job.replaces
            self.report.chunks += len(item.chunks)
            if item.document.warnings:
                self.report.warnings.append(FileFailure(item.job.path, "; ".join(item.document.warnings)))
            status = FileStatus.UPDATED if item.job.replaces else FileStatus.INDEXED
            detail = f"{len(item.chunks)} chunks" + (f"; {'; '.join(item.document.warnings)}" if item.document.warnings else "")
            self.emit(IngestEvent(kind=EventKind.FILE, path=item.job.path, status=status, detail=detail))
        self.pending.clear()

    def remove_missing(self, root: Path, seen: set[str], unreadable: list[str]) -> None:
        """Remove documents under ``root`` that the walk did not see, except under directories it could not read."""
        root_path = _absolute(root)
        gone = [
            doc for doc in self.catalog.documents.under(root_path)
            if doc.path not in seen and not any(at_or_under(doc.path, directory) for directory in unreadable)
        ]
        if gone:
            with self.catalog.transaction():
                self.catalog.remove_documents([doc.id for doc in gone])
            for doc in gone:
                self.report.removed += 1
                self.emit(IngestEvent(kind=EventKind.FILE, path=doc.path, status=FileStatus.REMOVED))
        failed_now = {failure.path for failure in self.report.failed}
        with self.catalog.transaction(changes_chunks=False):
            self.catalog.documents.clear_failures_under(root_path, failed_now)


def _outermost(roots: list[Path]) -> list[Path]:
    """Drop duplicates and roots inside other roots, so no file is visited twice."""
    unique = list(dict.fromkeys(roots))
    return [root for root in unique if not any(other != root and other in root.parents for other in unique)]


def ingest(
    settings: Settings,
    paths: Sequence[Path],
    *,
    embedder: Embedder | None = None,
    wait_seconds: float = 0.0,
    on_event: EventSink | None = None,
) -> IngestReport:
    """Bring the index up to date with the files under ``paths`` (or all remembered roots)."""
    started = time.monotonic()
    emit = on_event or (lambda event: None)
    with writer_lock(settings.index_path, wait_seconds):
        embedder = embedder or load_embedder(settings)
        index = Index.open_for_writing(settings, embedder.id, embedder.dimension)
        try:
            roots = _outermost([Path(_absolute(p)) for p in paths] or [Path(p) for p in index.catalog.documents.roots()])
            if not roots:
                raise RagError("nothing to ingest: no path given and the index remembers no folders", hint="Run `rag ingest PATH...`.")
            revision = index.catalog.get_meta("parser_revision")
            reread = revision != PARSER_REVISION and index.catalog.counts()["documents"] > 0
            run = _Run(settings, index, embedder, emit, reread)
            present = [root for root in roots if os.path.lexists(root)]
            for root in roots:
                if root not in present:
                    run.fail(str(root), "no such file or directory")
            candidates = list(walk(present))
            why = "the parsers changed since this index was built: every file is read again once (vectors of unchanged text are reused)"
            emit(IngestEvent(kind=EventKind.START, total=len(candidates), detail=why if reread else ""))
            with index.catalog.transaction(changes_chunks=False):
                for root in present:
                    index.catalog.documents.add_root(str(root))
            seen_by_root: dict[Path, set[str]] = {root: set() for root in present}

            def jobs():
                for candidate in candidates:
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
