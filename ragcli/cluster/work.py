"""What one Ray task does with the files the driver sends it: parse, chunk and embed them exactly
as a local ingest does, and send back plain data (JSON-shaped dicts and float32 arrays).

No Ray import here: the task body is ordinary Python, called directly by the contract tests and
wrapped by ``ray.remote`` on the driver (ragcli.cluster.pool).

The driver ships each file's bytes (a worker need not see the driver's disks). They are written
to a private temporary folder under the file's own name, because parsing reads the file name
(the title of a page without one is its stem), and parsed there by the same parser subprocess
pool as a local ingest, so a hostile file meets the same time and memory limits and a parser
crash costs one file, not the Ray worker.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ragcli.chunking import ChunkingPlan, iter_chunks
from ragcli.config import Settings
from ragcli.config.sections import ChunkingSettings, EmbeddingSettings, ParsingSettings
from ragcli.records import Chunk

# One embedder and one parser pool per Ray worker process, kept for the tasks that follow: a
# worker loads the model once, not once per task. Keyed by the settings they were made with.
_EMBEDDERS: dict[str, Any] = {}
_POOLS: dict[str, Any] = {}


def work_spec(settings: Settings, slice_chunks: int = 0) -> dict:
    """The settings a worker needs, as plain values: its embedder, chunking and parsing."""
    return {
        "embedding": dataclasses.asdict(settings.embedding),
        "chunking": dataclasses.asdict(settings.chunking),
        # One parser subprocess per task: Ray gives each task one CPU.
        "parsing": dataclasses.asdict(dataclasses.replace(settings.parsing, workers=1)),
        "cache_dir": settings.cache_dir,
        "slice_chunks": slice_chunks,
    }


def _settings(spec: dict) -> Settings:
    from ragcli.config.loading import default_cache_dir

    # The driver's cache folder where this machine has it (a local cluster), else this user's own.
    cache_dir = spec["cache_dir"] if spec["cache_dir"] and os.path.isdir(spec["cache_dir"]) else str(default_cache_dir(os.environ))
    embedding = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["embedding"].items()}
    return Settings(
        embedding=EmbeddingSettings(**embedding), chunking=ChunkingSettings(**spec["chunking"]),
        parsing=ParsingSettings(**spec["parsing"]), cache_dir=cache_dir,
    )


def _embedder(spec: dict, settings: Settings):
    key = repr(sorted(spec["embedding"].items())) + settings.cache_dir
    if key not in _EMBEDDERS:
        from ragcli.embedding import load_embedder

        _EMBEDDERS[key] = load_embedder(settings)
    return _EMBEDDERS[key]


def _pool(settings: Settings, key: str):
    if key not in _POOLS:
        from ragcli.parsing.pool import ParserPool

        _POOLS[key] = ParserPool(settings.parsing)
    return _POOLS[key]


def chunk_to_json(chunk: Chunk) -> dict:
    return {"text": chunk.text, "page": chunk.page, "headings": list(chunk.headings), "context": chunk.context, "ordinal": chunk.ordinal}


def chunk_from_json(data: dict) -> Chunk:
    return Chunk(text=data["text"], page=data["page"], headings=tuple(data["headings"]), context=data["context"], ordinal=data["ordinal"])


def read_files(spec: dict, files: list[tuple[str, bytes | str]]) -> dict:
    """Parse, chunk and embed ``files``: (path on the driver, its bytes, or the reason the driver
    could not read it). Returns the embedder's id (the driver refuses vectors of another model),
    this machine's name and, per file in order, ``{"path", "sha256", "document", "chunks",
    "vectors"}`` (vectors None for a file over the spec's ``slice_chunks``) or ``{"path", "error"}``."""
    from ragcli.parsing.worker import document_to_json

    settings = _settings(spec)
    embedder = _embedder(spec, settings)
    pool = _pool(settings, repr(sorted(spec["parsing"].items())))
    plan = ChunkingPlan.for_window(settings.chunking, embedder.max_tokens)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ragcli-ray-") as folder:
        for number, (path, data) in enumerate(files):
            if isinstance(data, str):
                results.append({"path": path, "error": data})
                continue
            local = Path(folder, str(number), os.path.basename(path))
            local.parent.mkdir()
            local.write_bytes(data)
            outcome = pool.parse(str(local))
            local.unlink()
            if outcome.document is None:
                results.append({"path": path, "error": outcome.error or "cannot parse the file"})
                continue
            document = outcome.document
            chunks = list(iter_chunks(document.sections, document.title, embedder.count_tokens, plan))
            results.append({"path": path, "sha256": outcome.sha256, "document": document_to_json(document), "chunks": chunks})
    # Every file's chunks in one embedding call: full batches for small files, as locally. A file
    # of more than ``slice_chunks`` chunks comes back without vectors: the driver spreads its
    # embedding over several tasks (embed_texts), so one large PDF is not one worker's job alone.
    slice_chunks = int(spec.get("slice_chunks", 0)) or None
    here = [result for result in results if "chunks" in result and (slice_chunks is None or len(result["chunks"]) <= slice_chunks)]
    texts = [chunk.embedding_text for result in here for chunk in result["chunks"]]
    vectors = _embed(embedder, texts)
    start = 0
    for result in results:
        if "chunks" in result:
            if any(result is other for other in here):
                end = start + len(result["chunks"])
                result["vectors"], start = vectors[start:end], end
            else:
                result["vectors"] = None
            result["chunks"] = [chunk_to_json(chunk) for chunk in result["chunks"]]
    return {"embedder": embedder.id, "node": socket.gethostname(), "pid": os.getpid(), "files": results}


def _embed(embedder, texts: list[str]) -> np.ndarray:
    return np.asarray(embedder.embed(texts), dtype=np.float32) if texts else np.zeros((0, embedder.dimension), np.float32)


def embed_texts(spec: dict, texts: list[str]) -> dict:
    """Embed one slice of a large file's chunk texts (``read_files`` left them without vectors)."""
    settings = _settings(spec)
    embedder = _embedder(spec, settings)
    return {"embedder": embedder.id, "node": socket.gethostname(), "vectors": _embed(embedder, texts)}
