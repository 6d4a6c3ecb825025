"""`rag status`: what the index holds, read from the catalog alone (no model is loaded)."""

from __future__ import annotations

from ragcli.config import Settings
from ragcli.store.index import Index


def index_status(settings: Settings) -> dict:
    with Index.open_for_reading(settings) as index:
        catalog = index.catalog
        counts = catalog.counts()
        identity = index.identity
        meta = catalog.all_meta()
        return {
            "index": str(index.directory),
            "documents": counts["documents"],
            "kinds": catalog.documents.count_by_kind(),
            "pages": counts["pages"],
            "chunks": counts["chunks"],
            "embedder": identity.get("embedder"),
            "embedding_model": meta.get("embedding_model"),
            "dimension": identity.get("dimension"),
            "chunk_tokens": identity.get("chunk_tokens"),
            "chunk_overlap": identity.get("chunk_overlap"),
            "generator": settings.generation.model,
            "format_version": meta.get("format_version"),
            "created_by": meta.get("created_by"),
            "created_at": meta.get("created_at"),
            "size_bytes": index.size_on_disk(),
            "roots": catalog.documents.roots(),
            "last_ingest": meta.get("last_ingest"),
            "failures": [{"path": path, "error": error} for path, error in catalog.documents.failures()],
            # Documents with the text of another (ragcli.copies): counted in "documents", not searched.
            "duplicates": [{"path": path, "same_as": original} for path, original in catalog.copies.listing()],
        }
