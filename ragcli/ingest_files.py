"""The per-file half of `rag ingest`: deciding what must be parsed, chunking what was, embedding
in batches (reusing vectors of identical text) and committing, with an event for each file.
``ingest`` drives it over the walk, under the writer lock."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ragcli.chunking import ChunkingPlan, iter_chunks
from ragcli.config import Settings
from ragcli.copies import MIN_SKETCH, repeats, sketch
from ragcli.embedding import Embedder
from ragcli.parsing.pool import ParseOutcome
from ragcli.records import Chunk, EventKind, FileFailure, FileStatus, IngestEvent, IngestReport, ParsedDocument
from ragcli.store.catalog import NewChunk, NewDocument
from ragcli.store.catalog.schema import at_or_under
from ragcli.store.index import Index
from ragcli.walking import Candidate, Skip

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
    # The indexed version's content hash: a file read again whose bytes are the same was not updated.
    previous_sha256: str | None = None
    # A copy read again because the document it repeated went away or changed.
    was_copy: bool = False


@dataclass(kw_only=True)
class _Pending:
    """A parsed and chunked file waiting for its batch to be embedded and committed."""

    job: _Job
    sha256: str
    document: ParsedDocument
    chunks: list[Chunk]
    # Its near-duplicate sketch (ragcli.copies); for a copy, the path of the document it repeats.
    sketch: list[int] = field(default_factory=list)
    copy_of: str | None = None


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


def absolute(path: Path) -> str:
    return os.path.abspath(os.fsdecode(path))


def _storable(path: str) -> bool:
    """File names with undecodable bytes become surrogates that SQLite cannot store."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class FileRun:
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
        self.plan = ChunkingPlan.for_window(settings.chunking, embedder.max_tokens)
        self.max_bytes = int(settings.parsing.max_file_mb * 1024 * 1024)
        # Documents whose text changed in this run: their copies are checked again at the end.
        self.changed: set[str] = set()
        # Vectors that came with parsed files (embedded on a Ray worker), by embedding hash,
        # until the batch that holds them is written.
        self.known: dict[str, np.ndarray] = {}

    def fail(self, path: str, reason: str) -> None:
        self.report.failed.append(FileFailure(path=path, error=reason))
        with self.catalog.transaction(changes_chunks=False):
            self.catalog.documents.record_failure(path, reason)
        self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.FAILED, detail=reason))

    def expected_bytes(self, candidate: Candidate) -> int:
        """The bytes ``prepare`` will probably send to parsing: a new or changed file's size, else 0."""
        if candidate.skip is not None or candidate.problem:
            return 0
        try:
            info = os.stat(candidate.path)
        except OSError:
            return 0
        path = absolute(candidate.path)
        if not _storable(path):
            return 0
        stored = self.catalog.documents.get(path)
        return 0 if self._looks_unchanged(stored, info) else info.st_size

    def _looks_unchanged(self, stored, info: os.stat_result) -> bool:
        """Same size and mtime as when indexed, and the parsers have not changed: not read again.
        (The estimate before the run and ``prepare`` both ask; ``prepare`` stats afresh, as the
        file may change in the minutes between.)"""
        return stored is not None and not self.reread and stored.size == info.st_size and stored.mtime_ns == info.st_mtime_ns

    def prepare(self, candidate: Candidate) -> _Job | None:
        """Decide whether a file needs parsing; report problems and unchanged files on the spot."""
        path = absolute(candidate.path)
        if not _storable(path):
            self.fail(printable(path), "file name is not valid UTF-8; rename the file to index it")
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
        if self._looks_unchanged(stored, info):
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
        return _Job(
            path=path, size=info.st_size, mtime_ns=info.st_mtime_ns, replaces=stored is not None,
            previous_sha256=stored.sha256 if stored is not None else None,
        )

    def accept(self, job: _Job, outcome: ParseOutcome) -> None:
        """Chunk a parsed file and queue it for embedding, or report why it could not be parsed."""
        if outcome.document is None:
            self.fail(job.path, outcome.error or "cannot parse the file")
            return
        document = outcome.document
        hashes = sketch(section.text for section in document.sections) if self.settings.ingest.near_duplicates > 0 else []
        original = self._original_of(job.path, document.title, hashes)
        if original is not None:
            self.pending.append(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=[], copy_of=original))
        else:
            made = getattr(outcome, "chunks", None)
            if made is not None:  # chunked and embedded on a Ray worker (ragcli.cluster)
                self.known.update(zip((_embed_hash(chunk.embedding_text) for chunk in made), outcome.vectors))
                chunks = iter(made)
            else:
                chunks = iter_chunks(document.sections, document.title, self.embedder.count_tokens, self.plan)
            head = list(itertools.islice(chunks, BATCH_CHUNKS + 1))
            if len(head) > BATCH_CHUNKS:
                # A large document is chunked, embedded and written a slice at a time, in a transaction of
                # its own, so memory holds one slice of chunks and vectors however large the file.
                self.flush()
                self._write_large(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=head, sketch=hashes), chunks)
                return
            self.pending.append(_Pending(job=job, sha256=outcome.sha256, document=document, chunks=head, sketch=hashes))
        if len(self.pending) >= BATCH_FILES or sum(len(p.chunks) for p in self.pending) >= BATCH_CHUNKS:
            self.flush()

    def _original_of(self, path: str, title: str, hashes: list[int]) -> str | None:
        """The indexed (or about to be) document whose text this one repeats, if any (ragcli.copies)."""
        if len(hashes) < MIN_SKETCH:
            return None
        others = self.catalog.copies.candidates(hashes, besides=path)
        others += [(item.job.path, item.document.title, item.sketch) for item in self.pending
                   if item.copy_of is None and item.sketch and item.job.path != path]
        best, share = None, 0.0
        for other, their_title, their_sketch in others:
            found = repeats(hashes, title, their_sketch, their_title, self.settings.ingest.near_duplicates)
            if found > share:
                best, share = other, found
        return best

    def copies_to_recheck(self) -> list[str]:
        """Copies whose document went away or changed in this run: read again, to be indexed
        themselves unless they still repeat one."""
        return self.catalog.copies.to_recheck(self.changed)

    def recheck(self, path: str) -> _Job | None:
        try:
            info = os.stat(path)
        except OSError:
            return None  # gone too: the next walk of its folder removes it
        stored = self.catalog.documents.get(path)
        return _Job(path=path, size=info.st_size, mtime_ns=info.st_mtime_ns, replaces=stored is not None,
                    previous_sha256=stored.sha256 if stored is not None else None, was_copy=True)

    def _unchanged(self, path: str) -> None:
        self.report.unchanged += 1
        self.emit(IngestEvent(kind=EventKind.FILE, path=path, status=FileStatus.UNCHANGED))

    def _vectors(self, chunks: Sequence[Chunk]) -> tuple[list[str], dict[str, np.ndarray]]:
        """The embedding hashes of ``chunks`` and their vectors: those that came with the files,
        else reused where the catalog holds the same text (this transaction's rows included),
        else embedded in one call."""
        hashes = [_embed_hash(chunk.embedding_text) for chunk in chunks]
        texts = dict(zip(hashes, (chunk.embedding_text for chunk in chunks)))
        came = {h: self.known.pop(h) for h in texts if h in self.known}
        vectors = self.catalog.chunks.vectors_for([h for h in texts if h not in came])
        vectors.update(came)
        missing = [h for h in texts if h not in vectors]
        if missing and getattr(self.embedder, "loaded", True) is False:
            first_use = getattr(self.embedder, "needs_preparing", lambda: False)()
            self.emit(IngestEvent(kind=EventKind.PHASE, detail=(
                "preparing the embedder: its first use exports it to ONNX, once (about half a minute)" if first_use else "loading the embedder")))
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
                self._record_sketch(item)
                start = end
        for item in self.pending:
            if item.copy_of is not None:
                self._copied(item)
            else:
                self._indexed(item, len(item.chunks))
        self.pending.clear()

    def _write_large(self, item: _Pending, rest: Iterator[Chunk]) -> None:
        def sliced() -> Iterator[NewChunk]:
            for part in itertools.chain([item.chunks], iter(lambda: list(itertools.islice(rest, BATCH_CHUNKS)), [])):
                yield from self._new_chunks(part, *self._vectors(part))

        with self.catalog.transaction():
            count = self.catalog.replace_document(self._new_document(item), sliced())
            self._record_sketch(item)
        self._indexed(item, count)

    def _record_sketch(self, item: _Pending) -> None:
        document_id = self.catalog.documents.get(item.job.path).id
        if item.copy_of is not None:
            self.catalog.copies.mark(document_id, item.copy_of)
        else:
            self.catalog.copies.add_sketch(document_id, item.sketch)

    def _copied(self, item: _Pending) -> None:
        self.report.duplicates.append(FileFailure(path=item.job.path, error=item.copy_of))
        if item.job.replaces and item.sha256 != item.job.previous_sha256:
            self.changed.add(item.job.path)
        self.emit(IngestEvent(kind=EventKind.FILE, path=item.job.path, status=FileStatus.DUPLICATE,
                              detail=f"same text as {item.copy_of}: not indexed twice", size=item.job.size))

    def _indexed(self, item: _Pending, chunks: int) -> None:
        changed = item.job.replaces and item.sha256 != item.job.previous_sha256
        if changed:
            self.changed.add(item.job.path)
        self.report.indexed += 1
        self.report.updated += changed
        reread = item.job.replaces and not changed and not item.job.was_copy
        self.report.reread += reread
        self.report.chunks += chunks
        warnings = "; ".join(item.document.warnings)
        if warnings:
            self.report.warnings.append(FileFailure(path=item.job.path, error=warnings))
        status = FileStatus.UPDATED if changed else (FileStatus.REREAD if reread else FileStatus.INDEXED)
        detail = f"{chunks} chunks" + (f"; {warnings}" if warnings else "")
        self.emit(IngestEvent(kind=EventKind.FILE, path=item.job.path, status=status, detail=detail, size=item.job.size))

    def remove_missing(self, root: Path, seen: set[str], unreadable: list[str]) -> None:
        """Remove documents under ``root`` that the walk did not see, except under directories it
        could not read, and except when the root itself looks unmounted or emptied."""
        root_path = absolute(root)
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
