"""Markdown and plain text: decoded leniently, headings kept as context."""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.records import ParsedDocument, Section

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (with or without BOM), falling back to cp1252/latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def parse_plain_text(data: bytes, path: Path) -> ParsedDocument:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    return ParsedDocument(kind="txt", title=path.stem, sections=[Section(text=text)])


def parse_markdown(data: bytes, path: Path) -> ParsedDocument:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    sections: list[Section] = []
    headings: list[tuple[int, str]] = []
    buffer: list[str] = []
    in_fence = False
    title = ""

    def flush() -> None:
        body = "\n".join(buffer).strip()
        if body:
            sections.append(Section(text=body, headings=tuple(h for _, h in headings)))
        buffer.clear()

    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            buffer.append(line)
            continue
        match = None if in_fence else _ATX_HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), match.group(2).strip()
        headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, heading)]
        if level == 1 and not title:
            title = heading
    flush()
    return ParsedDocument(kind="md", title=title or path.stem, sections=sections)
