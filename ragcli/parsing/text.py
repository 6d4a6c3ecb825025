"""Markdown and plain text: decoded leniently, headings kept as context.

Markdown headings are ATX (``## Title``) or setext (a line underlined with ``===``
or ``---``); plain text and reStructuredText headings are lines underlined (and
optionally overlined) with a run of one punctuation character, as in RST.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.parsing.encoding import decode
from ragcli.records import ParsedDocument, Section

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")
# A "title" longer than this above a rule is a paragraph followed by a separator, not a heading.
_MAX_TITLE_CHARS = 120


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (with or without BOM), then a detected legacy encoding, then cp1252/latin-1."""
    return decode(data)


def _lines(data: bytes) -> list[str]:
    return decode_text(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")


class _Outline:
    """Collects body lines into sections under the current heading path."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.headings: list[tuple[int, str]] = []
        self.buffer: list[str] = []
        self.title = ""

    def flush(self) -> None:
        body = "\n".join(self.buffer).strip()
        if body:
            self.sections.append(Section(text=body, headings=tuple(h for _, h in self.headings)))
        self.buffer.clear()

    def heading(self, level: int, text: str) -> None:
        self.flush()
        self.headings = [(lvl, h) for lvl, h in self.headings if lvl < level] + [(level, text)]
        if level == 1 and not self.title:
            self.title = text


def _is_title(line: str, previous_blank: bool) -> bool:
    text = line.strip()
    return bool(text) and previous_blank and len(text) <= _MAX_TITLE_CHARS and not _UNDERLINE.match(text)


def parse_plain_text(data: bytes, path: Path) -> ParsedDocument:
    lines = _lines(data)
    outline = _Outline()
    # RST gives levels by order of first appearance of each underline style.
    styles: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        underline = lines[index + 1] if index + 1 < len(lines) else ""
        previous_blank = index == 0 or not lines[index - 1].strip() or bool(_UNDERLINE.match(lines[index - 1].strip()))
        match = _UNDERLINE.match(underline.strip())
        if match and _is_title(line, previous_blank) and len(underline.strip()) >= len(line.strip()) * 0.6:
            overlined = index > 0 and lines[index - 1].strip() == underline.strip()
            style = match.group(1) + ("o" if overlined else "")
            if style not in styles:
                styles.append(style)
            if overlined and outline.buffer and outline.buffer[-1].strip() == underline.strip():
                outline.buffer.pop()
            outline.heading(styles.index(style) + 1, line.strip())
            index += 2
            continue
        outline.buffer.append(line)
        index += 1
    outline.flush()
    return ParsedDocument(kind="txt", title=outline.title or path.stem, sections=outline.sections)


def parse_markdown(data: bytes, path: Path) -> ParsedDocument:
    lines = _lines(data)
    outline = _Outline()
    in_fence = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            outline.buffer.append(line)
            continue
        if in_fence:
            outline.buffer.append(line)
            continue
        match = _ATX_HEADING.match(line)
        if match is not None:
            outline.heading(len(match.group(1)), match.group(2).strip())
            continue
        setext = _SETEXT.match(line)
        if setext and outline.buffer and index > 0 and _is_title(lines[index - 1], index < 2 or not lines[index - 2].strip()):
            title = outline.buffer.pop().strip()
            outline.heading(1 if setext.group(1)[0] == "=" else 2, title)
            continue
        outline.buffer.append(line)
    outline.flush()
    return ParsedDocument(kind="md", title=outline.title or path.stem, sections=outline.sections)
