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


class IndexStateError(RagError):
    """The index on disk is missing, incompatible or damaged."""


class IndexLockedError(RagError):
    exit_code = 4


class ModelError(RagError):
    """A model could not be found, verified or loaded."""


class ModelNotInstalled(ModelError):
    """A bundled model's packages are not installed (an optional model in ``auto`` mode is then skipped)."""


class DocumentError(RagError):
    """One input file could not be read or parsed; the run goes on without it."""
