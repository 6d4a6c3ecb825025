"""Which documents a search may return: path globs (`--path`) and document types (`--type`).

Glob rules, like .gitignore: ``*`` and ``?`` stay inside one path component and
``**`` crosses folders; a glob that does not start with ``/`` (or ``~``, ``./``)
may match the end of a path (``*.pdf``, ``howto/*.html``); a glob that matches
a folder takes everything under it (``~/docs/manuals``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable

from ragcli.config import RetrievalSettings


def glob_to_regex(pattern: str) -> str:
    """Translate one glob into a regex over absolute '/'-separated paths."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _anchor(pattern: str) -> str:
    """Absolute globs match from the root; relative ones (``*.pdf``) may match any tail."""
    if pattern.startswith(("~", "./", "../")) or pattern in (".", ".."):
        pattern = os.path.abspath(os.path.expanduser(pattern))
    body = glob_to_regex(pattern.rstrip("/") or "/")
    prefix = "" if pattern.startswith("/") else "(?:.*/)?"
    return f"{prefix}{body}(?:/.*)?"


@dataclass(frozen=True)
class Scope:
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, retrieval: RetrievalSettings) -> "Scope":
        return cls(tuple(retrieval.paths), tuple(retrieval.types))

    @property
    def everything(self) -> bool:
        return not self.paths and not self.types

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.paths:
            return None
        return re.compile("|".join(f"(?:{_anchor(p)})" for p in self.paths), re.DOTALL)

    def admits(self, path: str, kind: str) -> bool:
        if self.types and kind not in self.types:
            return False
        return self._pattern is None or self._pattern.fullmatch(path.replace(os.sep, "/")) is not None

    def select(self, documents: Iterable[tuple[int, str, str]]) -> list[int]:
        """The ids of the (id, path, kind) documents in scope."""
        return [doc_id for doc_id, path, kind in documents if self.admits(path, kind)]
