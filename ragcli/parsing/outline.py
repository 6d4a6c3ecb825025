"""Sections from a document's structure, shared by the parsers of structured formats (HTML, EPUB,
DOCX, ODT, PPTX): a heading path, blocks of text under it, and tables as rows a reader can follow.

A table row becomes one line that names each cell by its column header ("Name: size; Default:
10"), so a row stands alone wherever the chunker cuts the table: every chunk of a long table
carries its header.
"""

from __future__ import annotations

import re
from typing import Sequence

from ragcli.records import Section

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_NUMBER = re.compile(r"[-+]?[\d.,]+%?")


def squash(text: str) -> str:
    """Text as one line: runs of spaces and line breaks become one space."""
    return _SPACES.sub(" ", _LINE_BREAK.sub(" ", text)).strip()


def table_lines(rows: Sequence[tuple[list[str], bool]]) -> list[str]:
    """Rows ``(cells, is_header_row)`` as lines; after a header row each body cell is named by its
    column, so every line stands alone. Rows whose cell count differs are joined with " | "."""
    header: list[str] = []
    lines: list[str] = []
    for cells, all_header_cells in rows:
        if not any(cells):
            continue
        if not header and all_header_cells:
            header = cells
            continue
        if header and len(header) == len(cells):
            lines.append("; ".join(f"{h}: {c}" for h, c in zip(header, cells)))
        else:
            lines.append(" | ".join(cells))
    return lines


def first_row_is_header(rows: Sequence[list[str]]) -> bool:
    """For formats that seldom mark header rows (word processors, slides): the first row reads as
    a header when more rows follow and each of its cells is a distinct label, not a number."""
    if len(rows) < 2 or len(rows[0]) < 2:
        return False
    first = rows[0]
    return all(cell and not _NUMBER.fullmatch(cell) for cell in first) and len(set(first)) == len(first)


class SectionBuilder:
    """Collects blocks under the current heading path (and page) into sections.

    ``text`` adds inline text to the open block, ``end_block`` closes it; ``heading`` starts a
    section one level deeper than the headings above it; ``page`` starts a new page (a PPTX slide).
    """

    def __init__(self, max_heading_chars: int = 300) -> None:
        self.sections: list[Section] = []
        self.headings: list[tuple[int, str]] = []
        self.blocks: list[str] = []
        self.inline: list[str] = []
        self.page: int | None = None
        self.max_heading_chars = max_heading_chars
        # A definition term stays glued to its description, like a heading to its text.
        self.glue_next = False

    def text(self, value: str) -> None:
        self.inline.append(value)

    def end_block(self, glue_next: bool = False) -> None:
        line = squash("".join(self.inline))
        self.inline.clear()
        if not line:
            return
        if self.glue_next and self.blocks:
            self.blocks[-1] += "\n" + line
        else:
            self.blocks.append(line)
        self.glue_next = glue_next

    def paragraph(self, value: str) -> None:
        """One whole block of inline text."""
        self.end_block()
        self.text(value)
        self.end_block()

    def verbatim(self, value: str) -> None:
        """Code: kept with its line breaks and indentation."""
        self.end_block()
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        if value.strip():
            self.blocks.append(value)
        self.glue_next = False

    def lines(self, values: list[str]) -> None:
        """Blocks of their own, one per value: a table's rows, which the chunker then never cuts
        (it cuts a paragraph that is too long at sentence ends, and "; Default: 10" is one)."""
        self.end_block()
        self.blocks.extend(value for value in values if value)
        self.glue_next = False

    def table(self, rows: Sequence[tuple[list[str], bool]]) -> None:
        self.lines(table_lines(rows))

    def heading(self, level: int, title: str) -> None:
        """Start a section under ``title``; a "heading" too long to be one (an unclosed tag
        swallowing the page, a styled paragraph) is kept as body text instead."""
        title = squash(title)
        if not title:
            return
        if len(title) > self.max_heading_chars:
            self.lines([title])
            return
        self.end_section()
        self.headings = [(lvl, h) for lvl, h in self.headings if lvl < level] + [(level, title)]

    def new_page(self, page: int) -> None:
        self.end_section()
        self.page = page
        self.headings = []

    def end_section(self) -> None:
        self.end_block()
        if self.blocks:
            self.sections.append(Section(text="\n\n".join(self.blocks), page=self.page, headings=tuple(h for _, h in self.headings)))
        self.blocks = []

    def finish(self) -> list[Section]:
        self.end_section()
        return self.sections
