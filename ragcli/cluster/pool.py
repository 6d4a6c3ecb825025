"""The driver's side of `rag ingest --ray`: the files a run must read go to Ray tasks (parse,
chunk, embed: ragcli.cluster.work), and come back in the order they were sent, so the catalog is
written by this process alone, in the same batches and order as a local ingest.

It stands where ragcli.parsing.pool.ParserPool stands in ``ingest`` (``parse_in_order``), but
its outcomes carry the chunks and their vectors too.

A task whose worker or node dies is run again by Ray (``ingest.ray_retries``). When it still
fails, a task of several files is split and each file tried alone, so one file that kills its
worker every time is reported alone; the files reported keep their indexed version, and the next
run reads them again. Ray is imported here only, and only on this path.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.parsing.pool import ParseOutcome
from ragcli.records import Chunk

T = TypeVar("T")

# A file of more chunks than this is embedded a slice per task, spread over the cluster (a large
# PDF would otherwise be one worker's job while the others wait: RESULTS.md, "Ingest on a Ray cluster").
_SLICE_CHUNKS = 256
# Seconds to wait for the cluster's head to answer at all.
_CONNECT_TIMEOUT_S = 10.0
# A task's files are capped in bytes too, so a window of tasks in flight holds bounded memory here.
_TASK_BYTES = 64 << 20


@dataclass(frozen=True)
class EmbeddedOutcome(ParseOutcome):
    """A parsed document with its chunks and their vectors (in chunk order), made on a worker."""

    chunks: tuple[Chunk, ...] = ()
    vectors: np.ndarray | None = field(default=None, compare=False)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(
            "ingest.ray is set but Ray is not installed in this environment",
            hint="Install it with `pip install 'ragcli[ray]'` (the same version on every node), or ingest here without --ray.",
        ) from None
    return ray


def connect(address: str):
    """Join the cluster at ``address`` ("auto": one running on this machine; "local": start one
    for this run). Returns the ray module and whether this call started Ray itself."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    _errors_to_stderr()
    try:
        if address not in ("local", "auto"):
            _reachable(address)
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (OSError, RuntimeError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise RagError(
            f"cannot join the Ray cluster at {address!r}: {reason}; nothing was indexed or changed",
            hint="Start one with `ray start --head` (its address is printed), check the address, or use --ray local.",
        ) from None
    return ray, True


def _errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages ("A worker died...") on stdout, where
    `rag ingest --json` writes its report; send them to stderr. Ray has no setting for this, so
    its private printer is wrapped (left alone if a Ray release renames it)."""
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "ragcli_to_stderr", False):
        return

    def to_stderr(data, *args, **kwargs):
        return original({**data, "is_err": True}, *args, **kwargs)

    to_stderr.ragcli_to_stderr = True
    worker.print_to_stdstream = to_stderr


def _reachable(address: str) -> None:
    """Fail in seconds on an address nobody answers at: ray.init keeps trying it for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("not an address of the form host:port (as `ray start --head` prints it), auto or local")
    with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S):
        pass


class RayPool:
    """Use as a context manager; ``parse_in_order`` yields ``(item, EmbeddedOutcome)`` in input order."""

    def __init__(self, settings: Settings, embedder_id: str) -> None:
        from ragcli.parsing.worker import read_regular_file

        self.settings = settings
        self.embedder_id = embedder_id
        self._read = read_regular_file
        self.ray, self._started = connect(settings.ingest.ray)
        try:
            self._prepare(settings)
        except BaseException:
            self.close()  # a Ray this pool started must not outlive a pool that never came up
            raise

    def _prepare(self, settings: Settings) -> None:
        from ragcli.cluster.work import embed_texts, read_files, work_spec

        cpus = self.cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.node_count = sum(1 for node in self.ray.nodes() if node.get("Alive"))
        gpu = settings.embedding.device.startswith("cuda")
        # The embedding runs in the task, so a GPU setting asks for a GPU worker; Ray retries only a
        # worker's death (retry_exceptions off): a Python error in a task is a bug to report, not to repeat.
        options = {"num_cpus": 1, "num_gpus": 1 if gpu else 0, "max_retries": settings.ingest.ray_retries, "retry_exceptions": False}
        self._task = self.ray.remote(read_files).options(**options)
        self._embed_task = self.ray.remote(embed_texts).options(**options)
        self._spec = self.ray.put(work_spec(settings, _SLICE_CHUNKS))
        self.max_bytes = int(settings.parsing.max_file_mb * 1024 * 1024)
        # Two tasks per CPU in flight: a worker starts its next task while this process writes.
        self.window = max(2, 2 * cpus)
        self.nodes: set[str] = set()
        self.tasks = 0
        self.retried = 0

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def summary(self) -> dict:
        """What the run's report says about the cluster."""
        return {"address": self.settings.ingest.ray, "cpus": self.cpus, "nodes": sorted(self.nodes), "tasks": self.tasks, "sent_again_alone": self.retried}

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    def _payload(self, path: str) -> bytes | str:
        from ragcli.errors import DocumentError

        try:
            return self._read(path, self.max_bytes)
        except DocumentError as exc:
            return str(exc)

    def _submit(self, paths: list[str]):
        self.tasks += 1
        return self._task.remote(self._spec, [(path, self._payload(path)) for path in paths])

    def _outcomes(self, paths: list[str], ref) -> list[ParseOutcome]:
        try:
            reply = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            if len(paths) > 1:
                # Alone, each file either goes through or is the one that kills its worker.
                self.retried += len(paths)
                singles = [(path, self._submit([path])) for path in paths]
                return [outcome for path, single in singles for outcome in self._outcomes([path], single)]
            if isinstance(exc, self.ray.exceptions.RayTaskError):
                return [ParseOutcome(error=f"reading it on a Ray worker failed: {_last_line(exc)}")]
            return [ParseOutcome(error=_death_reason(exc, self.settings.ingest.ray_retries))]
        self._check(reply)
        self.nodes.add(reply["node"])
        return [self._embedded(_outcome(result)) for result in reply["files"]]

    def _check(self, reply: dict) -> None:
        if reply["embedder"] != self.embedder_id:
            raise RagError(
                f"the Ray worker on {reply['node']} embeds with {reply['embedder']}, but this index holds {self.embedder_id}; "
                "nothing from it was written",
                hint="Install the same ragcli version and models on every node (`pip install 'ragcli[ray]'`).",
            )

    def _embedded(self, outcome: ParseOutcome) -> ParseOutcome:
        """A large file's outcome with its vectors, embedded a slice per task across the cluster."""
        if not isinstance(outcome, EmbeddedOutcome) or outcome.vectors is not None:
            return outcome
        texts = [chunk.embedding_text for chunk in outcome.chunks]
        refs = [self._embed_task.remote(self._spec, texts[start:start + _SLICE_CHUNKS]) for start in range(0, len(texts), _SLICE_CHUNKS)]
        self.tasks += len(refs)
        try:
            replies = self.ray.get(refs)
        except self.ray.exceptions.RayError as exc:
            return ParseOutcome(error=_death_reason(exc, self.settings.ingest.ray_retries))
        for reply in replies:
            self._check(reply)
            self.nodes.add(reply["node"])
        return dataclasses.replace(outcome, vectors=np.concatenate([reply["vectors"] for reply in replies]))

    def _tasks(self, paths: Iterator[tuple[T, str]]) -> Iterator[list[tuple[T, str]]]:
        task: list[tuple[T, str]] = []
        size = 0
        for item, path in paths:
            try:
                bytes_ = os.stat(path).st_size
            except OSError:
                bytes_ = 0
            if task and (len(task) >= self.settings.ingest.ray_files_per_task or size + bytes_ > _TASK_BYTES):
                yield task
                task, size = [], 0
            task.append((item, path))
            size += bytes_
        if task:
            yield task

    def parse_in_order(self, items: Iterable[T], path_of: Callable[[T], str]) -> Iterator[tuple[T, ParseOutcome]]:
        """Send the items' files to the cluster a window of tasks ahead, yielding in input order.
        ``items`` is pulled lazily, from the caller's thread."""
        tasks = self._tasks((item, path_of(item)) for item in items)
        in_flight: deque[tuple[list[tuple[T, str]], object]] = deque()

        def submit_next() -> bool:
            for task in tasks:
                in_flight.append((task, self._submit([path for _, path in task])))
                return True
            return False

        while len(in_flight) < self.window and submit_next():
            pass
        while in_flight:
            task, ref = in_flight.popleft()
            outcomes = self._outcomes([path for _, path in task], ref)
            submit_next()
            for (item, _), outcome in zip(task, outcomes):
                yield item, outcome


def _outcome(result: dict) -> ParseOutcome:
    from ragcli.cluster.work import chunk_from_json
    from ragcli.parsing.worker import document_from_json

    if "error" in result:
        return ParseOutcome(error=str(result["error"]))
    return EmbeddedOutcome(
        document=document_from_json(result["document"]), sha256=str(result["sha256"]),
        chunks=tuple(chunk_from_json(chunk) for chunk in result["chunks"]),
        vectors=None if result["vectors"] is None else np.asarray(result["vectors"], dtype=np.float32),
    )


def _last_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]


def _death_reason(exc: Exception, retries: int) -> str:
    kind = type(exc).__name__
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    tries = f"{retries + 1} tries" if retries else "1 try"
    return (f"the Ray worker reading this file died ({kind}: {first}) in each of {tries}; "
            "the file keeps its indexed version and is read again on the next run")
