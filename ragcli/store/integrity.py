"""Checks that the catalog and the vector file agree, and repairs what can be repaired in place.

The catalog is the source of truth. Damage to the derived parts (full-text
rows, the vector file, per-document counts) is repaired from it; a document
whose chunks are damaged is marked so that the next ingest parses it again.
Damage to the SQLite file itself cannot be repaired here: that needs a rebuild.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

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


@dataclass
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


def _scalar(index: Index, sql: str, *params) -> int:
    return int(index.catalog.connection.execute(sql, params).fetchone()[0])


def inspect(index: Index, *, writer: bool = False) -> CheckReport:
    """Look for every known kind of inconsistency, reading one consistent snapshot.

    ``writer``: the caller holds the writer lock, so the full-text index's own
    integrity check (which SQLite runs as a write statement) can run too.
    """
    catalog = index.catalog
    report = CheckReport(index=str(index.directory))
    with catalog.snapshot():
        counts = catalog.counts()
        report.documents, report.chunks = counts["documents"], counts["chunks"]
        _check_sqlite(index, report)
        if report.problems:
            return report  # the file itself is damaged: the queries below would not mean much
        _check_metadata(index, report)
        _check_chunks(index, report)
        _check_vector_file(index, report)
    if writer:
        _check_fts_structure(index, report)
    for root in catalog.roots():
        if not os.path.exists(root):
            report.notes.append(Finding("root-missing", f"remembered folder {root} does not exist (unmounted?); its documents are kept"))
    if counts["failures"]:
        report.notes.append(Finding("failed-files", "files that failed to ingest are listed by `rag status`", counts["failures"]))
    return report


def _check_sqlite(index: Index, report: CheckReport) -> None:
    db = index.catalog.connection
    try:
        result = [row[0] for row in db.execute("PRAGMA quick_check")]
    except Exception as exc:  # sqlite3.DatabaseError on a damaged file
        result = [str(exc)]
    if result != ["ok"]:
        report.problems.append(Finding("sqlite", "the catalog file is damaged: " + "; ".join(result[:3]), len(result)))


def _check_metadata(index: Index, report: CheckReport) -> None:
    meta = index.catalog.all_meta()
    missing = [key for key in ("format_version", "identity", "catalog_id") if key not in meta]
    if missing:
        report.problems.append(Finding("metadata", f"catalog metadata lacks {', '.join(missing)}", len(missing)))


def _check_chunks(index: Index, report: CheckReport) -> None:
    dimension = int(index.identity.get("dimension", 0))
    checks = [
        ("orphan-chunks", "chunks belong to no document",
         "SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)"),
        ("chunk-count", "documents record a chunk count that differs from their chunks",
         "SELECT count(*) FROM documents d WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"),
        ("missing-terms", "chunks have no full-text entry, so keyword search cannot find them",
         "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunk_terms)"),
        ("orphan-terms", "full-text entries belong to no chunk",
         "SELECT count(*) FROM chunk_terms WHERE rowid NOT IN (SELECT id FROM chunks)"),
        ("bad-vectors", f"chunks have a vector that is not {dimension} float32 numbers",
         f"SELECT count(*) FROM chunks WHERE length(vector) != {dimension * 4}"),
    ]
    for code, message, sql in checks:
        count = _scalar(index, sql)
        if count:
            report.problems.append(Finding(code, f"{count} {message}", count))
    if not any(finding.code == "bad-vectors" for finding in report.problems):
        non_finite = sum(
            int(not np.isfinite(np.frombuffer(blob, dtype=np.float32)).all())
            for (blob,) in index.catalog.connection.execute("SELECT vector FROM chunks")
        )
        if non_finite:
            report.problems.append(Finding("bad-vectors", f"{non_finite} chunks have vectors with NaN or infinite values", non_finite))


def _check_fts_structure(index: Index, report: CheckReport) -> None:
    try:
        index.catalog.connection.execute("INSERT INTO chunk_terms(chunk_terms) VALUES ('integrity-check')")
    except Exception as exc:  # sqlite3.DatabaseError naming the damage
        report.problems.append(Finding("fts", f"the full-text index is damaged: {exc}", 1))


def _check_vector_file(index: Index, report: CheckReport) -> None:
    """The vector file is a cache: a stale one is only a note (readers rebuild it), a lying one is a problem."""
    catalog = index.catalog
    backend = index.settings.index.vectors
    path = vector_file(index.directory, backend)
    stamp = read_stamp(index.directory)
    current = {
        "catalog_id": catalog.get_meta("catalog_id"),
        "generation": catalog.generation(),
        "backend": backend,
        "count": report.chunks,
    }
    if not path.exists() or stamp != current:
        report.notes.append(Finding(
            "vectors-stale",
            "the vector file does not match the catalog (an ingest is running, or was interrupted); "
            "searches rebuild it in memory, and the next ingest or `rag check --repair` rewrites it",
        ))
        return
    from ragcli.store.vectors import make_vector_store

    store = make_vector_store(backend, int(index.identity["dimension"]))
    try:
        store.load(path)
    except Exception as exc:
        report.problems.append(Finding("vectors-unreadable", f"the vector file {path.name} cannot be read: {exc}", 1))
        return
    if len(store) != report.chunks:
        report.problems.append(Finding(
            "vectors-count", f"the vector file holds {len(store)} vectors for {report.chunks} chunks", abs(len(store) - report.chunks)
        ))
        return
    mismatched = 0
    # Damaged vectors are reported as bad-vectors; probing with one would only crash the check.
    width = int(index.identity["dimension"]) * 4
    rows = catalog.connection.execute(
        "SELECT id, vector FROM chunks WHERE length(vector) = ? ORDER BY random() LIMIT ?", (width, _PROBES)
    ).fetchall()
    for chunk_id, blob in rows:
        vector = np.frombuffer(blob, dtype=np.float32)
        if not np.isfinite(vector).all():
            continue
        found = store.search(vector, 1)
        if found and found[0][0] == chunk_id:
            continue
        # Identical text gives identical vectors: another id is right if the catalog holds the same vector for it.
        twin = catalog.connection.execute("SELECT vector FROM chunks WHERE id = ?", (found[0][0],)).fetchone() if found else None
        twin_vector = None if twin is None or len(twin[0]) != width else np.frombuffer(twin[0], dtype=np.float32)
        if twin_vector is None or twin_vector.shape != vector.shape or not np.allclose(twin_vector, vector, atol=1e-5):
            mismatched += 1
    if mismatched:
        report.problems.append(Finding(
            "vectors-mismatch", f"{mismatched} of {len(rows)} sampled chunks are not found by their own vector", mismatched
        ))


def repair(index: Index, report: CheckReport) -> list[str]:
    """Fix what ``inspect`` found, from the catalog. Caller holds the writer lock. Returns what was done."""
    codes = {finding.code for finding in report.problems} | {finding.code for finding in report.notes}
    done: list[str] = []
    if "sqlite" in codes or "metadata" in codes:
        return done  # not repairable in place; the caller says to rebuild
    db = index.catalog.connection
    dimension = int(index.identity["dimension"])
    chunk_codes = {"orphan-chunks", "chunk-count", "missing-terms", "orphan-terms", "bad-vectors", "fts"}
    if codes & chunk_codes:
        with index.catalog.transaction():
            bad = db.execute(
                f"SELECT id, document_id FROM chunks WHERE length(vector) != {dimension * 4}"
            ).fetchall()
            bad += [
                (chunk_id, document_id)
                for chunk_id, document_id, blob in db.execute(
                    f"SELECT id, document_id, vector FROM chunks WHERE length(vector) = {dimension * 4}"
                )
                if not np.isfinite(np.frombuffer(blob, dtype=np.float32)).all()
            ]
            if bad:
                db.executemany("DELETE FROM chunks WHERE id = ?", [(chunk_id,) for chunk_id, _ in bad])
                done.append(f"removed {len(bad)} chunks with damaged vectors")
            orphans = db.execute("DELETE FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)").rowcount
            if orphans:
                done.append(f"removed {orphans} chunks that belonged to no document")
            # Documents that lost chunks are marked changed, so the next ingest parses them again.
            stale = db.execute(
                "UPDATE documents SET sha256 = '', size = -1, chunk_count = (SELECT count(*) FROM chunks c WHERE c.document_id = documents.id)"
                " WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.document_id = documents.id)"
            ).rowcount
            if stale:
                done.append(f"marked {stale} documents to be re-indexed by the next `rag ingest`")
            db.execute("DELETE FROM chunk_terms")
            db.execute("INSERT INTO chunk_terms(rowid, text, context) SELECT id, text, context FROM chunks")
            done.append("rebuilt the full-text index from the chunks")
    if codes & (chunk_codes | {"vectors-stale", "vectors-unreadable", "vectors-count", "vectors-mismatch"}):
        path = vector_file(index.directory, index.settings.index.vectors)
        if "vectors-unreadable" in codes or "vectors-mismatch" in codes or "vectors-count" in codes:
            path.unlink(missing_ok=True)  # never load the damaged file again, even by accident
        index.refresh_vector_file()
        done.append("rebuilt the vector file from the catalog")
    return done
