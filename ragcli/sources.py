"""`rag sources`: the folders an index remembers, and forgetting one together with its documents."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.store.catalog.schema import at_or_under
from ragcli.store.index import Index
from ragcli.store.lock import writer_lock
from ragcli.walking import Patterns


@dataclass(frozen=True)
class SourceRoot:
    path: str
    documents: int
    chunks: int
    exists: bool
    # The --include / --exclude patterns remembered for this folder.
    patterns: Patterns = Patterns()

    def to_json(self) -> dict:
        return {"path": self.path, "documents": self.documents, "chunks": self.chunks, "exists": self.exists, **self.patterns.to_json()}


def list_sources(settings: Settings) -> list[SourceRoot]:
    with Index.open_for_reading(settings) as index:
        documents = index.catalog.documents
        return [
            SourceRoot(root, *documents.summary_under(root), os.path.exists(root), Patterns.from_json(documents.root_patterns(root)))
            for root in documents.roots()
        ]


def remove_source(settings: Settings, root: Path, *, wait_seconds: float = 0.0) -> SourceRoot:
    """Forget ``root`` and remove every document under it from the index, in one transaction."""
    wanted = os.path.abspath(os.fsdecode(root))
    with writer_lock(settings.index_path, wait_seconds):
        index = Index.open_existing(settings, writable=True)
        try:
            catalog = index.catalog
            roots = catalog.documents.roots()
            if wanted not in roots:
                listed = ", ".join(roots) or "none"
                raise RagError(
                    f"{wanted} is not a source of index {index.directory} (sources: {listed})",
                    hint="See `rag sources` for the exact paths.",
                )
            chunks_before = catalog.counts()["chunks"]
            # Documents that another remembered root also covers stay (a root nested in another is never both walked).
            others = [other for other in roots if other != wanted]
            doomed = [
                doc.id for doc in catalog.documents.under(wanted)
                if not any(at_or_under(doc.path, other) for other in others)
            ]
            with catalog.transaction():
                catalog.remove_documents(doomed)
                catalog.documents.remove_root(wanted)
                catalog.documents.clear_failures_under(wanted, keep=set())
            index.refresh_vector_file()
            removed_chunks = chunks_before - catalog.counts()["chunks"]
            return SourceRoot(wanted, len(doomed), removed_chunks, os.path.exists(wanted))
        finally:
            index.close()
