"""RTF through striprtf: the text with its code page and Unicode escapes decoded, one paragraph a
line, table rows kept as rows. RTF has no dependable heading markup (writers spell headings as
font changes), so an RTF file is one section under its title."""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.errors import DocumentError
from ragcli.parsing.outline import SectionBuilder, first_row_is_header, squash
from ragcli.records import ParsedDocument

_HEADER = re.compile(rb"^\s*\{\\rtf", re.ASCII)
_TITLE = re.compile(r"\{\\title\s+([^{}\\]{1,300})\}")
# striprtf ends every table cell with "|": a line that ends so is a table row.
_CELL_END = "|"


def _rows(lines: list[str]) -> list[tuple[list[str], bool]]:
    rows = [[squash(cell) for cell in line[:-1].split(_CELL_END)] for line in lines]
    header = first_row_is_header(rows)
    return [(cells, header and i == 0) for i, cells in enumerate(rows)]


def parse_rtf(data: bytes, path: Path) -> ParsedDocument:
    if not _HEADER.match(data[:64]):
        raise DocumentError("not an RTF file (no {\\rtf header); the file may be mislabelled or damaged")
    from striprtf.striprtf import rtf_to_text

    # RTF is 7-bit text; latin-1 maps any stray 8-bit byte to a character, losing nothing.
    source = data.decode("latin-1")
    text = rtf_to_text(source, errors="replace")
    builder = SectionBuilder()
    table: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        if stripped.endswith(_CELL_END) and stripped.count(_CELL_END) >= 2:
            table.append(stripped)
            continue
        if table:
            builder.table(_rows(table))
            table = []
        builder.paragraph(stripped)
    if table:
        builder.table(_rows(table))
    found = _TITLE.search(source[:65536])
    title = squash(rtf_to_text(found.group(1), errors="replace")) if found else ""
    return ParsedDocument(kind="rtf", title=title or path.stem, sections=builder.finish())
