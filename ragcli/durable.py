"""Durable file replacement: write beside the target, make the bytes durable, rename into place.

Every file or folder ragcli publishes (vector files and their stamps, assembled models, ONNX
exports, verification markers) goes through ``atomic_write``, so a kill or a power loss at any
moment leaves either the old version or the new one, never a half-written file that a later run
would trust.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's own entry to disk (a folder: its list of names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_durable(path: Path) -> None:
    """fsync, and make private to the user: what ragcli writes may hold or reveal document text."""
    if path.is_dir():
        for folder, _, files in os.walk(path):
            for name in files:
                os.chmod(Path(folder) / name, 0o600)
                fsync_path(Path(folder) / name)
            os.chmod(folder, 0o700)
            fsync_path(Path(folder))
    else:
        os.chmod(path, 0o600)
        fsync_path(path)


def temporary_sibling(target: Path) -> Path:
    """A hidden name beside ``target`` that no other process uses. It keeps the target's suffix
    last, since some writers pick the format by it (ONNX Runtime saves ``.ort`` otherwise)."""
    return target.with_name(f".{target.stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp{target.suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_leftovers(target: Path) -> None:
    """Delete temporaries of ``target`` that a killed writer left behind. Only for a caller that
    is the one writer of ``target`` (the index's writer lock): another writer's are in use."""
    for leftover in target.parent.glob(f".{target.stem}.*.tmp{target.suffix}"):
        _remove(leftover)


@contextmanager
def atomic_write(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` for the caller to write (a file, or a folder it
    creates); on a clean exit its contents are made private (0600 files, 0700 folders) and
    fsynced, it is renamed onto ``target`` and the parent folder is fsynced. On an error the temporary path is removed and ``target`` is untouched.

    A folder can only replace a missing or empty ``target`` (rename's rule): remove the old one first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        _make_durable(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    finally:
        _remove(tmp)
