"""One writer at a time, via an advisory lock the kernel drops when the holder dies."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ragcli.errors import ConfigError, IndexLockedError


@contextmanager
def writer_lock(index_dir: Path, wait_seconds: float) -> Iterator[None]:
    """Hold the index's writer lock, waiting up to ``wait_seconds`` for another writer to finish."""
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"index path {index_dir} is a file, not a directory", hint="Point --index at a directory.")
    index_dir.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir / "write.lock"
    handle = open(lock_path, "a+")
    deadline = time.monotonic() + max(0.0, wait_seconds)
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _still_in_place(handle, lock_path):
                    break
                # A rebuild swapped the index directory while we waited: lock the new one instead.
                handle.close()
                handle = open(lock_path, "a+")
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(lock_path)
                    raise IndexLockedError(
                        f"index {index_dir} is being written by another ingest{holder}",
                        hint="Wait for it to finish, or pass --wait SECONDS to wait longer.",
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _still_in_place(handle, lock_path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(lock_path).st_ino
    except FileNotFoundError:
        return False


def _read_holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
