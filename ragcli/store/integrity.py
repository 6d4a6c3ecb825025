"""Checks that the catalog and the vector file agree, and repairs what can be repaired in place.

The catalog is the source of truth. Damage to the derived parts (full-text
rows, the vector file, per-document counts) is repaired from it; a document
whose chunks are damaged is marked so that the next ingest parses it again.
Damage to the SQLite file itself cannot be repaired here: that needs a rebuild.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field

from ragcli.store.index import Index
from ragcli.store.vectors import read_stamp, vector_file

# A handful of stored vectors is searched for in the vector file: each must come back as its own best match.
_PROBES = 8


@dataclass
class Finding:
    code: str
    message: str
    count: int = 0

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "count": self.count}


@dataclass(kw_only=True)
class CheckReport:
    index: str
    documents: int = 0
    chunks: int = 0
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "ok": self.ok,
            "documents": self.documents,
            "chunks": self.chunks,
            "problems": [finding.to_json() for finding in self.problems],
            "notes": [finding.to_json() for finding in self.notes],
            "repaired": list(self.repaired),
        }


def inspect(index: Index) -> CheckReport:
    """Look for every known kind of inconsistency, reading one consistent snapshot (the
    full-text index's own check, which SQLite runs as a write, in a rolled-back transaction)."""
    catalog = index.catalog
    report = CheckReport(index=str(index.directory))
    with catalog.snapshot():
        counts = catalog.counts()
        report.documents, report.chunks = counts["documents"], counts["chunks"]
        _check_sqlite(index, report)
        if report.problems:
            return report  # the file itself is damaged: the queries below would not mean much
        _check_metadata(index, report)
        if report.problems:
            return report  # without the index's identity nothing else can be read
        _check_chunks(index, report)
        _check_vector_file(index, report)
    _check_fts_structure(index, report)
    for root in catalog.documents.roots():
        if not os.path.exists(root):
            report.notes.append(Finding("root-missing", f"remembered folder {root} does not exist (unmounted?); its documents are kept"))
    if counts["failures"]:
        report.notes.append(Finding("failed-files", "files that failed to ingest are listed by `rag status`", counts["failures"]))
    return report


def _check_sqlite(index: Index, report: CheckReport) -> None:
    try:
        result = index.catalog.quick_check()
    except sqlite3.Error as exc:  # a damaged file
        result = [str(exc)]
    if result != ["ok"]:
        report.problems.append(Finding("sqlite", "the catalog file is damaged: " + "; ".join(result[:3]), len(result)))


def _check_metadata(index: Index, report: CheckReport) -> None:
    meta = index.catalog.all_meta()
    identity = meta.get("identity")
    missing = [key for key in ("format_version", "identity", "catalog_id") if key not in meta]
    if isinstance(identity, dict):
        missing += [f"identity.{key}" for key in ("embedder", "dimension") if key not in identity]
    elif "identity" in meta:
        missing.append("identity (not a record)")
    if missing:
        report.problems.append(Finding("metadata", f"catalog metadata lacks {', '.join(missing)}", len(missing)))


def _check_chunks(index: Index, report: CheckReport) -> None:
    catalog = index.catalog
    dimension = int(index.identity.get("dimension", 0))
    checks = [
        ("orphan-chunks", "chunks belong to no document", catalog.chunks.orphans()),
        ("chunk-count", "documents record a chunk count that differs from their chunks", catalog.documents.miscounted()),
        ("bad-vectors", f"chunks have a vector that is not {dimension} float32 numbers", catalog.chunks.wrong_size(dimension)),
    ]
    try:
        checks += [
            ("missing-terms", "chunks have no full-text entry, so keyword search cannot find them", catalog.fulltext.missing()),
            ("orphan-terms", "full-text entries belong to no chunk", catalog.fulltext.orphans()),
        ]
    except sqlite3.DatabaseError as exc:  # the full-text index's own tables are damaged: repairable
        report.problems.append(Finding("fts", f"the full-text index is damaged: {exc}", 1))
    for code, message, count in checks:
        if count:
            report.problems.append(Finding(code, f"{count} {message}", count))
    if not any(finding.code == "bad-vectors" for finding in report.problems):
        non_finite = len(catalog.chunks.non_finite(dimension))
        if non_finite:
            report.problems.append(Finding("bad-vectors", f"{non_finite} chunks have vectors with NaN or infinite values", non_finite))


def _check_fts_structure(index: Index, report: CheckReport) -> None:
    if any(finding.code == "fts" for finding in report.problems):
        return  # already found damaged
    if index.read_only:
        report.notes.append(Finding("fts-unchecked", "the full-text index's structure was not checked: the index is read-only here"))
        return
    try:
        index.catalog.fulltext.check_structure()
    except sqlite3.Error as exc:  # names the damage
        report.problems.append(Finding("fts", f"the full-text index is damaged: {exc}", 1))


def _check_vector_file(index: Index, report: CheckReport) -> None:
    """The vector file is a cache: a stale one is only a note (readers rebuild it), a lying one is a problem."""
    backend = index.settings.index.vectors
    path = vector_file(index.directory, backend)
    if not index.stamp_matches():
        report.notes.append(Finding(
            "vectors-stale",
            "the vector file does not match the catalog (an ingest is running, or was interrupted); "
            "searches rebuild it in memory, and the next ingest or `rag check --repair` rewrites it",
        ))
        return
    if not index.file_intact(path):
        report.problems.append(Finding("vectors-mismatch", f"the vector file {path.name} is not the file its stamp recorded (damaged?)", 1))
        return
    from ragcli.store.vectors import make_vector_store

    store = make_vector_store(backend, int(index.identity["dimension"]))
    try:
        store.load(path)
    except Exception as exc:  # FAISS raises RuntimeError, numpy ValueError/OSError, on a damaged file
        report.problems.append(Finding("vectors-unreadable", f"the vector file {path.name} cannot be read: {exc}", 1))
        return
    expected = read_stamp(index.directory).get("count")
    if len(store) != expected:
        report.problems.append(Finding(
            "vectors-count", f"the vector file holds {len(store)} vectors where its stamp says {expected}", 1
        ))
        return
    mismatched, probed = index.probe(store, _PROBES)
    if mismatched:
        report.problems.append(Finding(
            "vectors-mismatch", f"{mismatched} of {probed} sampled chunks are not found by their own vector", mismatched
        ))


def repair(index: Index, report: CheckReport) -> list[str]:
    """Fix what ``inspect`` found, from the catalog. Caller holds the writer lock. Returns what was done."""
    codes = {finding.code for finding in report.problems} | {finding.code for finding in report.notes}
    done: list[str] = []
    if "sqlite" in codes or "metadata" in codes:
        return done  # not repairable in place; the caller says to rebuild
    catalog = index.catalog
    dimension = int(index.identity["dimension"])
    chunk_codes = {"orphan-chunks", "chunk-count", "missing-terms", "orphan-terms", "bad-vectors", "fts"}
    if codes & chunk_codes:
        with catalog.transaction():
            bad = catalog.chunks.damaged(dimension)
            if bad:
                catalog.chunks.delete(bad)
                done.append(f"removed {len(bad)} chunks with damaged vectors")
            orphans = catalog.chunks.delete_orphans()
            if orphans:
                done.append(f"removed {orphans} chunks that belonged to no document")
            # Documents that lost chunks are marked changed, so the next ingest parses them again.
            stale = catalog.documents.mark_miscounted_changed()
            if stale:
                done.append(f"marked {stale} documents to be re-indexed by the next `rag ingest`")
            catalog.fulltext.rebuild()
            done.append("rebuilt the full-text index from the chunks")
    if codes & (chunk_codes | {"vectors-stale", "vectors-unreadable", "vectors-count", "vectors-mismatch"}):
        path = vector_file(index.directory, index.settings.index.vectors)
        if "vectors-unreadable" in codes or "vectors-mismatch" in codes or "vectors-count" in codes:
            path.unlink(missing_ok=True)  # never load the damaged file again, even by accident
        index.refresh_vector_file()
        done.append("rebuilt the vector file from the catalog")
    return done
