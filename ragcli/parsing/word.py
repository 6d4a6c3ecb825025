"""DOCX through python-docx: the body in reading order, sections by heading path, tables by row.

Headings are paragraphs whose style (or a style it is based on) is "Heading 1".."Heading 9";
the "Title" style, or the core properties' title, names the document. Page headers, footers
and comments are page furniture and left out. Word files carry no reliable page numbers (pages
are laid out when shown), so a DOCX's locator is its heading path.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ragcli.parsing.archive import open_package
from ragcli.parsing.outline import SectionBuilder, first_row_is_header, squash
from ragcli.records import ParsedDocument

_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
# A chain of based-on styles longer than this is a loop in a damaged file.
_MAX_STYLE_DEPTH = 16


def _heading_level(paragraph) -> int | None:
    """1..9 for a heading, 0 for the document title, None for body text."""
    try:
        style = paragraph.style
    except (KeyError, ValueError, AttributeError):  # a style id the styles part does not define
        return None
    for _ in range(_MAX_STYLE_DEPTH):
        if style is None:
            return None
        name = style.name or ""
        if name.lower() == "title":
            return 0
        match = _HEADING_STYLE.fullmatch(name.strip())
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _rows(table) -> list[tuple[list[str], bool]]:
    rows: list[list[str]] = []
    marked: list[bool] = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(squash(" ".join(p.text for p in cell.paragraphs)))
        rows.append(cells)
        marked.append(bool(row._tr.xpath("./w:trPr/w:tblHeader")))
    guessed = first_row_is_header(rows)
    return [(cells, marked[i] or (i == 0 and guessed)) for i, cells in enumerate(rows)]


def parse_docx(data: bytes, path: Path) -> ParsedDocument:
    open_package(data, "docx").close()
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    builder = SectionBuilder()
    title = squash(document.core_properties.title or "")
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.table(_rows(block))
            continue
        text = block.text
        level = _heading_level(block)
        if level == 0:
            title = title or squash(text)
        elif level is not None:
            builder.heading(level, text)
        else:
            builder.paragraph(text)
    sections = builder.finish()
    if not title:
        title = next((s.headings[0] for s in sections if s.headings), path.stem)
    return ParsedDocument(kind="docx", title=title, sections=sections)
