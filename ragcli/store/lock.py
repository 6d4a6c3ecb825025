"""One writer at a time, via an advisory lock the kernel drops when the holder dies."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ragcli.errors import ConfigError, IndexLockedError, IndexStateError


@contextmanager
def writer_lock(index_dir: Path, wait_seconds: float) -> Iterator[None]:
    """Hold the index's writer lock, waiting up to ``wait_seconds`` for another writer to finish."""
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"index path {index_dir} is a file, not a directory", hint="Point --index at a directory.")
    index_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = index_dir / "write.lock"
    handle = _open_lock(lock_path)
    deadline = time.monotonic() + max(0.0, wait_seconds)
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _still_in_place(handle, lock_path):
                    break
                # A rebuild swapped the index directory while we waited: lock the new one instead.
                handle.close()
                handle = _open_lock(lock_path)
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


def _open_lock(lock_path: Path):
    """The lock file, private, and never through a symbolic link (its target would be overwritten)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IndexStateError(
                f"{lock_path} is a symbolic link, not ragcli's lock file", hint=f"Remove it ({lock_path}) and run again."
            ) from None
        raise
    return os.fdopen(fd, "r+")


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
