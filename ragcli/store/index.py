"""An index directory: catalog, vector file, and the settings they were built with."""

from __future__ import annotations

import time
import uuid

from ragcli import __version__
from ragcli.config import Settings
from ragcli.errors import IndexStateError
from ragcli.store.catalog import FORMAT_VERSION, Catalog
from ragcli.durable import remove_leftovers
from ragcli.store.vectors import VectorStore, make_vector_store, read_stamp, stamp_file, vector_file, write_stamp

CATALOG_NAME = "catalog.sqlite3"


def _build_identity(settings: Settings, embedder_id: str, dimension: int) -> dict:
    return {
        "embedder": embedder_id,
        "dimension": dimension,
        "chunk_tokens": settings.chunking.tokens,
        "chunk_overlap": settings.chunking.overlap,
    }


class Index:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.directory = settings.index_path
        self.catalog = catalog
        self._vectors: VectorStore | None = None

    @classmethod
    def open_for_reading(cls, settings: Settings) -> "Index":
        directory = settings.index_path
        path = directory / CATALOG_NAME
        if not path.exists():
            raise IndexStateError(
                f"no index at {directory}",
                hint="Run `rag ingest PATH...` first, or point --index / RAG_INDEX at an existing index.",
            )
        index = cls(settings, Catalog.open(path, create=False))
        try:
            if not index.catalog.is_initialised():
                raise IndexStateError(
                    f"no index at {directory} yet: the first ingest has not committed anything",
                    hint="Run `rag ingest PATH...` (again, if the first run was interrupted).",
                )
            index._check_format()
        except BaseException:
            index.close()
            raise
        return index

    @classmethod
    def open_for_writing(cls, settings: Settings, embedder_id: str, dimension: int) -> "Index":
        directory = settings.index_path
        directory.mkdir(parents=True, exist_ok=True)
        index = cls(settings, Catalog.open(directory / CATALOG_NAME, create=True))
        wanted = _build_identity(settings, embedder_id, dimension)
        if index.catalog.get_meta("format_version") is None:
            with index.catalog.transaction():
                index.catalog.set_meta("format_version", FORMAT_VERSION)
                index.catalog.set_meta("identity", wanted)
                index.catalog.set_meta("embedding_model", settings.embedding.model)
                index.catalog.set_meta("created_at", time.time())
                # Ties the vector file to this catalog: a new catalog restarts its generation count.
                index.catalog.set_meta("catalog_id", uuid.uuid4().hex)
                index.catalog.set_meta("created_by", f"ragcli {__version__}")
            return index
        index._check_format()
        stored = index.catalog.get_meta("identity", {})
        if stored != wanted:
            changed = ", ".join(f"{key}: index has {stored.get(key)!r}, settings say {wanted[key]!r}" for key in wanted if stored.get(key) != wanted[key])
            raise IndexStateError(
                f"index {directory} was built with other settings ({changed})",
                hint="Use the settings the index was built with, or rebuild it with the new ones: `rag ingest --rebuild` "
                "(the current index keeps working until the new one is complete).",
            )
        return index

    def _check_format(self) -> None:
        version = self.catalog.get_meta("format_version")
        if version != FORMAT_VERSION:
            raise IndexStateError(
                f"index {self.directory} has format version {version}, this ragcli reads version {FORMAT_VERSION}",
                hint="Re-ingest into a new index directory with --index DIR.",
            )

    def check_embedder(self, embedder_id: str) -> None:
        """Refuse to query with vectors from a different model than the index holds."""
        stored = self.catalog.get_meta("identity", {})
        if stored.get("embedder") != embedder_id:
            model = self.catalog.get_meta("embedding_model", stored.get("embedder"))
            raise IndexStateError(
                f"index {self.directory} was built with embedder {stored.get('embedder')!r}, but {embedder_id!r} is configured",
                hint=f"Set embedding.model = {model!r} (or RAG_EMBEDDING_MODEL)"
                + (" with embedding.backend = \"onnx\" and embedding.precision = \"int8\"" if str(stored.get("embedder")).endswith("+onnx-int8")
                   else " with embedding.precision = \"fp32\"")
                + ", or re-embed with `rag ingest --rebuild`.",
            )

    @property
    def identity(self) -> dict:
        return self.catalog.get_meta("identity", {})

    def vector_store(self) -> VectorStore:
        """The vector index matching the catalog as it is now; rebuilt in memory if the file is stale."""
        if self._vectors is None:
            self._vectors = self._load_or_build(save=False)
        return self._vectors

    def refresh_vector_file(self) -> None:
        """Writer only: make the vector file match the catalog again."""
        self._vectors = self._load_or_build(save=True)

    def _load_or_build(self, save: bool) -> VectorStore:
        backend = self.settings.index.vectors
        dimension = int(self.identity["dimension"])
        store = make_vector_store(backend, dimension, self.settings.index)
        path = vector_file(self.directory, backend)
        if save:
            # Only the writer saves (it holds the writer lock): a temporary beside these files is a killed run's.
            for target in (path, stamp_file(self.directory)):
                remove_leftovers(target)
        with self.catalog.snapshot():
            wanted = {
                "catalog_id": self.catalog.get_meta("catalog_id"),
                "generation": self.catalog.generation(),
                "backend": backend,
                "count": self.catalog.counts()["chunks"],
            }
            if read_stamp(self.directory) == wanted and path.exists():
                try:
                    store.load(path)
                    if len(store) == wanted["count"]:
                        return store
                except Exception:  # a damaged cache file is rebuilt from the catalog below
                    pass
            ids, vectors = self.catalog.chunks.all_vectors(dimension)
        store.build(ids, vectors)
        if save:
            store.save(path)
            write_stamp(self.directory, wanted)
        return store

    def size_on_disk(self) -> int:
        total = 0
        for entry in self.directory.iterdir():
            try:
                total += entry.stat().st_size if entry.is_file() else 0
            except FileNotFoundError:  # a writer's temporary file vanished meanwhile
                continue
        return total

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
