"""Errors that say what failed, why, and what to do next."""

from __future__ import annotations


class RagError(Exception):
    """Base error: ``str(err)`` says what failed and why; ``hint`` says what next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(RagError):
    exit_code = 2


class UsageError(RagError):
    """The command was given something it cannot run on (an empty question, a path that does not
    exist); nothing was changed."""

    exit_code = 2


class IndexStateError(RagError):
    """The index on disk is missing, incompatible or damaged."""


class IndexDamagedError(IndexStateError):
    """The index's catalog file is damaged (SQLite cannot read it) or truncated."""


class IndexLockedError(RagError):
    exit_code = 4


class ModelError(RagError):
    """A model could not be found, verified or loaded."""


class ModelNotInstalled(ModelError):
    """A bundled model's packages are not installed (an optional model in ``auto`` mode is then skipped)."""


class DocumentError(RagError):
    """One input file could not be read or parsed; the run goes on without it."""


def explain(exc: BaseException) -> RagError | None:
    """A system error (disk full, read-only, permissions, a damaged SQLite file) as what failed,
    why and what to do next; None for errors it does not know. Nothing already indexed is lost in
    any of these: writes are transactions and renames."""
    import errno
    import sys

    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError):
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            return RagError(f"cannot write the index: {exc}", hint="The index is read-only here; run writing commands where it can be written.")
        if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "disk I/O" in str(exc)):
            return RagError(f"cannot write the index: {exc}", hint="Free disk space (or check the disk) and run again; what was indexed is kept.")
        return IndexDamagedError(
            f"the index's catalog cannot be read: {exc}",
            hint="See what `rag check` finds; `rag ingest --rebuild PATH...` builds the index again from your documents.",
        )
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return RagError(f"no space left to write{where}", hint="Free disk space and run again; what was indexed is kept.")
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return RagError(f"cannot write{where}: {exc.strerror}", hint="Check the folder's permissions, or point --index / cache_dir at a writable folder.")
        return RagError(f"{exc.strerror}:{where}", hint="Check the path and run again.")
    return None
