"""An index directory: catalog, vector file, and the settings they were built with."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np

from ragcli import __version__
from ragcli.config import Settings
from ragcli.errors import IndexDamagedError, IndexStateError
from ragcli.store.catalog import FORMAT_VERSION, Catalog
from ragcli.durable import remove_leftovers
from ragcli.store.vectors import VectorStore, file_digest, make_vector_store, read_stamp, stamp_file, vector_file, write_stamp

CATALOG_NAME = "catalog.sqlite3"
# Stored vectors looked up in a vector file before it is trusted: few, since every search pays them.
_LOAD_PROBES = 3
# A long-lived reader rebuilds vectors from a catalog an ingest is still writing at most this often.
_REBUILD_EVERY_S = 30.0


def _build_identity(settings: Settings, embedder_id: str, dimension: int) -> dict:
    return {
        "embedder": embedder_id,
        "dimension": dimension,
        "chunk_tokens": settings.chunking.tokens,
        "chunk_overlap": settings.chunking.overlap,
    }


def _damaged(directory: Path, exc: Exception) -> IndexDamagedError:
    return IndexDamagedError(
        f"the catalog of index {directory} is damaged or not an index ({exc})",
        hint="See what `rag check` finds; `rag ingest --rebuild PATH...` builds it again from your documents.",
    )


def _refuse_emptied_catalog(directory: Path) -> None:
    """A zero-byte catalog beside a vector stamp is an index that lost its catalog (a truncated
    file), not a new one: refuse it rather than quietly start an empty index over it."""
    catalog = directory / CATALOG_NAME
    if catalog.exists() and catalog.stat().st_size == 0 and stamp_file(directory).exists():
        raise IndexDamagedError(
            f"the catalog of index {directory} is empty (0 bytes) although the index was built: it was truncated",
            hint="Rebuild it from your documents with `rag ingest --rebuild PATH...`, or restore the file from a backup.",
        )


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _make_private(directory: Path) -> None:
    """The index holds document text: its folder and files are the user's alone (indexes made by
    ragcli 0.2 were readable by everyone, and are tightened by their next writer)."""
    os.chmod(directory, 0o700)
    for entry in directory.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, 0o600)


def _vector_settings(recorded: dict | None, embedder: str) -> str:
    """The embedding settings an index's vectors need, as a hint's words."""
    if recorded is None:  # an index from before they were recorded: fp32 or int8 only
        recorded = {"backend": "onnx", "precision": "int8"} if "+onnx-int8" in embedder else {"precision": "fp32"}
    return " with " + " and ".join(f"embedding.{key} = {json.dumps(value)}" for key, value in recorded.items())


class Index:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.directory = settings.index_path
        self.catalog = catalog
        self._vectors: VectorStore | None = None
        # The catalog generation the vectors in memory were built from: a long-lived reader (rag
        # serve, rag chat) sees the next ingest's commits without being restarted.
        self._vectors_generation: int | None = None
        self._vectors_built_at = 0.0
        # Which file the connection reads: `rag ingest --rebuild` swaps a new catalog in beside it.
        self._opened = _file_identity(self.directory / CATALOG_NAME)
        # Chunks left out of the vector index the last time it was built, for a damaged vector.
        self.damaged_vectors = 0

    @classmethod
    def open_for_reading(cls, settings: Settings) -> "Index":
        """Open an existing index to read it (read-only: also on read-only media)."""
        return cls.open_existing(settings, writable=False)

    @classmethod
    def open_existing(cls, settings: Settings, *, writable: bool) -> "Index":
        """Open an existing index; ``writable`` for a caller that holds the writer lock and changes it."""
        directory = settings.index_path
        path = directory / CATALOG_NAME
        if not path.exists():
            raise IndexStateError(
                f"no index at {directory}",
                hint="Run `rag ingest PATH...` first, or point --index / RAG_INDEX at an existing index.",
            )
        _refuse_emptied_catalog(directory)
        opened = _file_identity(path)  # before opening: a rebuild swapping the file in meanwhile is then seen
        try:
            index = cls(settings, Catalog.open(path, create=False, read_only=not writable))
            index._opened = opened
        except sqlite3.DatabaseError as exc:
            raise _damaged(directory, exc) from exc
        try:
            if not index.catalog.is_initialised():
                raise IndexStateError(
                    f"no index at {directory} yet: the first ingest has not committed anything",
                    hint="Run `rag ingest PATH...` (again, if the first run was interrupted).",
                )
            index._check_format()
        except sqlite3.DatabaseError as exc:
            index.close()
            raise _damaged(directory, exc) from exc
        except BaseException:
            index.close()
            raise
        return index

    @classmethod
    def open_for_writing(cls, settings: Settings, embedder_id: str, dimension: int) -> "Index":
        directory = settings.index_path
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _make_private(directory)
        _refuse_emptied_catalog(directory)
        try:
            index = cls(settings, Catalog.open(directory / CATALOG_NAME, create=True))
        except sqlite3.DatabaseError as exc:
            raise _damaged(directory, exc) from exc
        try:
            index._initialise_or_match(_build_identity(settings, embedder_id, dimension))
        except sqlite3.DatabaseError as exc:
            index.close()
            raise _damaged(directory, exc) from exc
        except BaseException:
            index.close()
            raise
        return index

    def _initialise_or_match(self, wanted: dict) -> None:
        """Record a new index's identity, or check that an existing one was built as ``wanted``."""
        catalog = self.catalog
        if catalog.get_meta("format_version") is None:
            with catalog.transaction():
                catalog.set_meta("format_version", FORMAT_VERSION)
                catalog.set_meta("identity", wanted)
                catalog.set_meta("embedding_model", self.settings.embedding.model)
                # What shaped the vectors besides the model, so a query is embedded the same way.
                embedding = self.settings.embedding
                catalog.set_meta("embedding_vectors", {"backend": embedding.backend, "precision": embedding.precision, "read_tokens": embedding.read_tokens})
                catalog.set_meta("created_at", time.time())
                # Ties the vector file to this catalog: a new catalog restarts its generation count.
                catalog.set_meta("catalog_id", uuid.uuid4().hex)
                catalog.set_meta("created_by", f"ragcli {__version__}")
            return
        self._check_format()
        changed = self.differences(wanted)
        if changed:
            vectors = self.catalog.get_meta("embedding_vectors")
            built = f" (it was built{_vector_settings(vectors, '')}, for example the --config it was first ingested with)" if "embedder" in changed and vectors else ""
            raise IndexStateError(
                f"index {self.directory} was built with other settings ({changed})",
                hint=f"Use the settings the index was built with{built}, or rebuild it with the new ones: `rag ingest --rebuild` "
                "(the current index keeps working until the new one is complete).",
            )

    def differences(self, wanted: dict) -> str:
        """How the settings behind ``wanted`` (an identity) differ from what the index was built with; "" if they do not."""
        stored = self.catalog.get_meta("identity", {})
        return ", ".join(f"{key}: index has {stored.get(key)!r}, settings say {wanted[key]!r}" for key in wanted if stored.get(key) != wanted[key])

    def built_as(self, settings: Settings, embedder_id: str, dimension: int) -> str:
        """``differences`` for these settings and embedder."""
        return self.differences(_build_identity(settings, embedder_id, dimension))

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
                hint=f"Set embedding.model = {model!r} (or RAG_EMBEDDING_MODEL)" + _vector_settings(self.catalog.get_meta("embedding_vectors"), str(stored.get("embedder")))
                + ", or re-embed with `rag ingest --rebuild`.",
            )

    @property
    def read_only(self) -> bool:
        return self.catalog.read_only

    @property
    def identity(self) -> dict:
        return self.catalog.get_meta("identity", {})

    def vector_store(self) -> VectorStore:
        """The vector index matching the catalog as it is now; rebuilt in memory if the file is stale,
        and loaded again after a writer committed changes to the chunks."""
        if self._vectors is None:
            self._vectors = self._load_or_build(save=False)
        elif self._vectors_generation != self.catalog.generation():
            # Mid-ingest the writer commits every batch but saves the vector file at the end:
            # rebuilding from the catalog at every commit would cost a large index minutes, so
            # until the saved file catches up the vectors are rebuilt at most every so often (new
            # chunks are found by keyword search meanwhile).
            if self.stamp_matches() or time.monotonic() - self._vectors_built_at >= _REBUILD_EVERY_S:
                self._vectors = self._load_or_build(save=False)
        return self._vectors

    def replaced(self) -> bool:
        """Whether the catalog file at the index's path is no longer the one this index reads (a
        rebuild swapped a new index in): the reader must open the index again to see it."""
        return _file_identity(self.directory / CATALOG_NAME) != self._opened

    def refresh_vector_file(self) -> None:
        """Writer only: make the vector file match the catalog again."""
        self._vectors = self._load_or_build(save=True)

    def wanted_stamp(self) -> dict:
        """What the vector file's stamp must say to be this catalog's, as it is now."""
        return {
            "catalog_id": self.catalog.get_meta("catalog_id"),
            "generation": self.catalog.generation(),
            "backend": self.settings.index.vectors,
        }

    def stamp_matches(self) -> bool:
        """Whether the vector file exists and its stamp names this catalog's current state."""
        stamp = read_stamp(self.directory)
        path = vector_file(self.directory, self.settings.index.vectors)
        return path.exists() and {key: stamp.get(key) for key in ("catalog_id", "generation", "backend")} == self.wanted_stamp()

    def file_intact(self, path: Path) -> bool:
        """Whether the vector file's bytes are the ones its stamp recorded (for a file read whole)."""
        recorded = read_stamp(self.directory).get("sha256")
        return recorded is None or file_digest(path) == recorded

    def probe(self, store: VectorStore, probes: int) -> tuple[int, int]:
        """Look up ``probes`` stored vectors, picked at random, in ``store``: each must come back as
        its own best match (or as a chunk with the same vector). Returns (mismatched, probed).

        Content, not stamps: a file with flipped or zeroed bytes keeps its stamp and size."""
        dimension = int(self.identity["dimension"])
        rows = [(cid, v) for cid, v in self.catalog.chunks.sample_vectors(dimension, probes) if np.isfinite(v).all()]
        mismatched = 0
        for chunk_id, vector in rows:
            found = store.search(vector, 1)
            if found and found[0][0] == chunk_id:
                continue
            # Identical text gives identical vectors: another id is right if the catalog holds the same vector for it.
            twin = self.catalog.chunks.vector(found[0][0], dimension) if found else None
            if twin is None or not np.allclose(twin, vector, atol=1e-5):
                mismatched += 1
        return mismatched, len(rows)

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
            wanted = self.wanted_stamp()
            if self.stamp_matches() and self.file_intact(path):
                try:
                    store.load(path)
                    if len(store) == read_stamp(self.directory).get("count") and self.probe(store, _LOAD_PROBES)[0] == 0:
                        return self._built(store, wanted)
                except Exception:  # a damaged cache file is rebuilt from the catalog below
                    pass
            ids, vectors, damaged = self.catalog.chunks.all_vectors(dimension)
        store.build(ids, vectors)
        self.damaged_vectors = len(damaged)
        if save:
            store.save(path)
            write_stamp(self.directory, {**wanted, "count": len(ids), "sha256": file_digest(path)})
        return self._built(store, wanted)

    def _built(self, store: VectorStore, wanted: dict) -> VectorStore:
        # Recorded only once the vectors are in hand: a failed load is tried again by the next search.
        self._vectors_generation = wanted["generation"]
        self._vectors_built_at = time.monotonic()
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
