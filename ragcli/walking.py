"""Find the files under the given roots that ragcli can index."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ragcli.parsing import FORMAT_NAMES, is_supported

# A file of gitignore-style patterns: in a folder being indexed, it leaves out what it matches below it.
IGNORE_FILE = ".ragignore"
# An ignore file is a few lines; a larger one is a mistake, not read whole.
_MAX_IGNORE_BYTES = 1 << 20


@dataclass(frozen=True)
class Patterns:
    """Which files under a folder are indexed, in .gitignore's syntax relative to the folder: a file
    must match an ``include`` pattern (when there are any) and no ``exclude`` pattern."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def to_json(self) -> dict:
        return {"include": list(self.include), "exclude": list(self.exclude)}

    @classmethod
    def from_json(cls, data: dict | None) -> "Patterns":
        data = data or {}
        return cls(tuple(data.get("include") or ()), tuple(data.get("exclude") or ()))


class Skip(StrEnum):
    # Silently: the file is indexed under its own path.
    DUPLICATE = "a link to a file inside the folders being indexed"
    # Reported: indexing it would copy a file from elsewhere (another user's, /etc) into the index.
    OUTSIDE = "a symbolic link to a file outside the folders being indexed; set ingest.follow_links = true (or --follow-links) to index it"
    # Counted, not listed: left out by ingest.include / ingest.exclude, --include / --exclude or a .ragignore.
    EXCLUDED = "left out by an include or exclude pattern"


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


# For each root, the patterns in force there: (the folder they are relative to, the patterns).
PatternSource = Callable[[Path], Sequence[tuple[Path, Patterns]]]


def walk(roots: Sequence[Path], follow_links: bool = False, patterns: PatternSource | None = None) -> Iterator[Candidate]:
    """Yield supported files under each root, in a stable order.

    Directory symlinks are not followed (no loops). A file symlink whose target is inside the
    roots is skipped (the target is indexed under its own path); one whose target lies outside
    them is skipped and reported, unless ``follow_links``. A path given as a root is always read.
    Hidden directories (.git, .venv, ...) are skipped. Files and folders that ``patterns`` or a
    .ragignore leave out come as ``Skip.EXCLUDED`` (a folder once, not walked): as in git, the last
    pattern that matches decides, a deeper .ragignore after a shallower one.
    """
    from pathspec import GitIgnoreSpec

    resolved_roots = [root.resolve() for root in roots]
    for root in roots:
        if root.is_file() or (root.exists() and not root.is_dir()):
            yield _candidate(root, root, resolved_roots, explicit=True, follow_links=True)
            continue
        sources = list(patterns(root)) if patterns else []
        excludes = [(base, GitIgnoreSpec.from_lines(p.exclude)) for base, p in sources if p.exclude]
        includes = [(base, GitIgnoreSpec.from_lines(p.include)) for base, p in sources if p.include]
        rules: dict[Path, list] = {root: excludes}
        errors: list[OSError] = []
        for directory, subdirs, files in os.walk(root, onerror=errors.append, followlinks=False):
            here = Path(directory)
            chain = rules.pop(here, excludes)
            try:
                own = _read_ignore_file(here / IGNORE_FILE)
            except (OSError, UnicodeDecodeError) as exc:
                # Indexing what the file was meant to leave out could put private files in the index.
                subdirs[:] = []
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                yield Candidate(path=here, root=root, problem=f"cannot read {IGNORE_FILE}: {reason}; the folder is left as it was indexed", unreadable_directory=True)
                continue
            if own:
                chain = chain + [(here, GitIgnoreSpec.from_lines(own))]
            kept = []
            for name in sorted(d for d in subdirs if not d.startswith(".")):
                if _excluded(chain, here / name, folder=True):
                    yield Candidate(path=here / name, root=root, skip=Skip.EXCLUDED)
                    continue
                kept.append(name)
                rules[here / name] = chain
            subdirs[:] = kept
            for name in sorted(files):
                path = here / name
                if not is_supported(path):
                    continue
                if _excluded(chain, path) or not all(spec.match_file(path.relative_to(base).as_posix()) for base, spec in includes):
                    yield Candidate(path=path, root=root, skip=Skip.EXCLUDED)
                    continue
                yield _candidate(path, root, resolved_roots, explicit=False, follow_links=follow_links)
        for error in errors:
            directory = Path(error.filename) if error.filename else root
            yield Candidate(path=directory, root=root, problem=f"cannot read directory: {error.strerror}", unreadable_directory=True)


def _read_ignore_file(path: Path) -> list[str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_IGNORE_BYTES)
    except FileNotFoundError:
        return []
    return data.decode("utf-8").splitlines()


def _excluded(chain: Sequence[tuple[Path, object]], path: Path, folder: bool = False) -> bool:
    excluded = False
    for base, spec in chain:
        verdict = spec.check_file(path.relative_to(base).as_posix() + ("/" if folder else "")).include
        if verdict is not None:
            excluded = verdict
    return excluded


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
