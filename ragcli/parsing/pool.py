"""Parse files in a small pool of worker subprocesses, ahead of the caller, results in input order.

Each worker (``python -m ragcli.parsing.worker``) runs under an address-space
limit and speaks JSON lines over pipes (no pickle). A worker that overruns the
per-file time budget is killed with its process group and replaced; one that
dies (a crash in a C extension, the memory limit) is replaced too, and the
file is reported with the reason. While the caller embeds the files already
parsed, the pool keeps parsing the next ones (up to ``lookahead`` files
ahead), which is how parsing overlaps embedding.

If no worker can be started at all (no usable interpreter, a sandbox that
forbids subprocesses) the pool falls back to parsing in the calling process,
without the limits, and says so in ``fallback``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Callable, Iterable, Iterator, TypeVar

from ragcli.config import ParsingSettings
from ragcli.parsing.worker import document_from_json, handle
from ragcli.records import ParsedDocument

T = TypeVar("T")

# A worker that cannot even start and say "ready" within this many seconds is treated as unusable.
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ParseOutcome:
    """A parsed document with the sha256 of the bytes it came from, or the reason it failed."""

    document: ParsedDocument | None = None
    sha256: str = ""
    error: str = ""


class _Stopped(Exception):
    """The worker stopped (killed for time, or died) in the middle of a reply."""


def _outcome(reply: dict) -> ParseOutcome:
    if "error" in reply:
        return ParseOutcome(error=str(reply["error"]))
    return ParseOutcome(document=document_from_json(reply["document"]), sha256=str(reply["sha256"]))


def worker_count(settings: ParsingSettings) -> int:
    if settings.workers:
        return settings.workers
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


class WorkerStartError(Exception):
    pass


class _Worker:
    """One parser subprocess; not thread-safe (the pool lends each worker to one thread at a time)."""

    def __init__(self, max_memory_mb: int) -> None:
        package_parent = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([package_parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        # The worker never needs threads for numeric libraries; keep it from spawning any.
        env.setdefault("OMP_NUM_THREADS", "1")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ragcli.parsing.worker", str(max_memory_mb)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                # Its own process group: a kill on timeout also reaches anything it started (an OCR engine).
                start_new_session=True,
            )
        except OSError as exc:
            raise WorkerStartError(f"cannot start a parser process: {exc.strerror or exc}") from exc
        self.killed_for_time = False
        ready = self._read_reply(_START_TIMEOUT_S)
        if ready != b'{"ready": true}\n':
            self.close()
            raise WorkerStartError("the parser process did not start (python -m ragcli.parsing.worker)")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _on_timeout(self) -> None:
        self.killed_for_time = True
        self._kill()

    def _read_reply(self, timeout: float) -> bytes:
        timer = threading.Timer(timeout, self._on_timeout)
        timer.daemon = True
        timer.start()
        try:
            return self.process.stdout.readline()
        except (OSError, ValueError):
            return b""
        finally:
            timer.cancel()

    def parse(self, request: dict, timeout: float) -> ParseOutcome:
        self.killed_for_time = False
        try:
            self.process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.close()
            return ParseOutcome(error="the parser process died before it could take the file")
        line = self._read_reply(timeout)
        if self.killed_for_time:
            self.close()
            return ParseOutcome(error=f"parsing took longer than parsing.timeout_s = {timeout:g} s; the parser was stopped")
        if not line.endswith(b"\n"):
            self.close()
            return ParseOutcome(error=self._death_reason(request))
        try:
            reply = json.loads(line)
            for section in (reply.get("document") or {}).get("sections", []):
                parts = int(section.pop("parts", 0))
                if parts:
                    section["text"] = "".join(self._read_part(timeout) for _ in range(parts))
            return _outcome(reply)
        except _Stopped:
            error = self._stopped_reason(request, timeout)
            self.close()
            return ParseOutcome(error=error)
        except (ValueError, KeyError, TypeError) as exc:
            self.close()
            return ParseOutcome(error=f"the parser process sent an unreadable reply ({type(exc).__name__})")

    def _read_part(self, timeout: float) -> str:
        line = self._read_reply(timeout)
        if self.killed_for_time or not line.endswith(b"\n"):
            raise _Stopped()
        return json.loads(line)["part"]

    def _stopped_reason(self, request: dict, timeout: float) -> str:
        if self.killed_for_time:
            return f"parsing took longer than parsing.timeout_s = {timeout:g} s; the parser was stopped"
        return self._death_reason(request)

    def _death_reason(self, request: dict) -> str:
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.process.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the parser crashed on this file ({name}); the file is left out"
        return f"the parser process exited with code {code}, most likely out of memory (parsing.max_memory_mb = {request.get('max_memory_mb')})"

    def close(self) -> None:
        if self.alive:
            self._kill()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass


class ParserPool:
    """Use as a context manager; ``parse_in_order`` yields ``(item, ParseOutcome)`` in input order."""

    def __init__(self, settings: ParsingSettings, *, ocr: bool | None = None) -> None:
        self.settings = settings
        self.ocr = settings.ocr if ocr is None else ocr
        self.size = worker_count(settings)
        # Enough parsed files queued to keep the workers busy through one embedding batch, few enough
        # that parsed text waiting in memory stays small.
        self.lookahead = min(32, 8 * self.size)
        self.max_bytes = int(settings.max_file_mb * 1024 * 1024)
        # Set when workers cannot be used and files are parsed in this process instead.
        self.fallback = "" if settings.isolate else "parsing.isolate is off"
        self._idle: Queue[_Worker | None] = Queue()
        for _ in range(self.size):
            self._idle.put(None)  # started on first use
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ragcli-parse")

    def __enter__(self) -> "ParserPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def request(self, path: str) -> dict:
        return {"path": path, "max_bytes": self.max_bytes, "ocr": self.ocr, "max_memory_mb": self.settings.max_memory_mb}

    def parse(self, path: str) -> ParseOutcome:
        """Parse one file (blocking), in a worker unless the pool fell back to in-process parsing."""
        if self.fallback:
            return _outcome(handle(self.request(path)))
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = self._start()
                if self._closed:
                    return ParseOutcome(error="ingest stopped before this file was parsed")
                if worker is None:
                    return _outcome(handle(self.request(path)))
            outcome = worker.parse(self.request(path), self.settings.timeout_s)
            if not worker.alive:
                worker = None
            return outcome
        finally:
            self._idle.put(worker)

    def _start(self) -> _Worker | None:
        try:
            worker = _Worker(self.settings.max_memory_mb)
        except WorkerStartError as exc:
            self.fallback = str(exc)
            return None
        with self._lock:
            if not self._closed:
                self._workers = [w for w in self._workers if w.alive] + [worker]
                return worker
        worker.close()  # the pool closed while this worker started: leave nothing behind
        return None

    def parse_in_order(self, items: Iterable[T], path_of: Callable[[T], str]) -> Iterator[tuple[T, ParseOutcome]]:
        """Parse the items' files ahead of the consumer, yielding results in the order of ``items``.

        ``items`` is pulled lazily, from the consumer's thread, only as far as the lookahead needs.
        """
        source = iter(items)
        pending: deque[tuple[T, Future[ParseOutcome]]] = deque()

        def submit_next() -> bool:
            for item in source:
                pending.append((item, self._executor.submit(self.parse, path_of(item))))
                return True
            return False

        while len(pending) < self.lookahead and submit_next():
            pass
        while pending:
            item, future = pending.popleft()
            submit_next()
            yield item, future.result()
