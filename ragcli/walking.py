"""Find the files under the given roots that ragcli can index."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Iterator, Sequence

from ragcli.parsing import FORMAT_NAMES, is_supported


class Skip(StrEnum):
    # Silently: the file is indexed under its own path.
    DUPLICATE = "a link to a file inside the folders being indexed"
    # Reported: indexing it would copy a file from elsewhere (another user's, /etc) into the index.
    OUTSIDE = "a symbolic link to a file outside the folders being indexed; set ingest.follow_links = true (or --follow-links) to index it"


@dataclass(frozen=True, kw_only=True)
class Candidate:
    path: Path
    root: Path
    # Set when the file cannot be indexed at all; the walk reports it instead of stopping.
    problem: str = ""
    # Why a file is passed over without an error (None: it is not).
    skip: Skip | None = None
    # A directory that could not be listed: what the index holds under it must be kept, not removed.
    unreadable_directory: bool = False


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def walk(roots: Sequence[Path], follow_links: bool = False) -> Iterator[Candidate]:
    """Yield supported files under each root, in a stable order.

    Directory symlinks are not followed (no loops). A file symlink whose target is inside the
    roots is skipped (the target is indexed under its own path); one whose target lies outside
    them is skipped and reported, unless ``follow_links``. A path given as a root is always read.
    Hidden directories (.git, .venv, ...) are skipped.
    """
    resolved_roots = [root.resolve() for root in roots]
    for root in roots:
        if root.is_file() or (root.exists() and not root.is_dir()):
            yield _candidate(root, root, resolved_roots, explicit=True, follow_links=True)
            continue
        errors: list[OSError] = []
        for directory, subdirs, files in os.walk(root, onerror=errors.append, followlinks=False):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(directory) / name
                if is_supported(path):
                    yield _candidate(path, root, resolved_roots, explicit=False, follow_links=follow_links)
        for error in errors:
            directory = Path(error.filename) if error.filename else root
            yield Candidate(path=directory, root=root, problem=f"cannot read directory: {error.strerror}", unreadable_directory=True)


def _candidate(path: Path, root: Path, resolved_roots: Sequence[Path], explicit: bool, follow_links: bool) -> Candidate:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return Candidate(path=path, root=root, problem="broken or looping symbolic link")
        if not explicit and _inside(target, resolved_roots) and target != path.absolute():
            return Candidate(path=path, root=root, skip=Skip.DUPLICATE)
        if not follow_links and not _inside(target, resolved_roots):
            return Candidate(path=path, root=root, skip=Skip.OUTSIDE)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return Candidate(path=path, root=root, problem=f"cannot stat file: {exc.strerror}")
    if not stat.S_ISREG(mode):
        return Candidate(path=path, root=root, problem="not a regular file (device, FIFO or socket)")
    if explicit and not is_supported(path):
        return Candidate(path=path, root=root, problem=f"unsupported file type {path.suffix or '(no extension)'!r}; supported: {FORMAT_NAMES}")
    return Candidate(path=path, root=root)
