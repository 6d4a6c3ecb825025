"""ODT through odfdo: the body in reading order, sections by heading path (outline levels), tables
by row. Tables of contents and indexes are left out: they repeat the headings as page chrome."""

from __future__ import annotations

import io
from pathlib import Path

from ragcli.errors import DocumentError
from ragcli.parsing.archive import open_package
from ragcli.parsing.outline import SectionBuilder, first_row_is_header, squash
from ragcli.records import ParsedDocument

# Elements whose children are read in place.
_CONTAINERS = {"text:section", "office:text", "text:list", "text:list-item", "text:list-header"}
_SKIPPED = {"text:table-of-content", "text:alphabetical-index", "text:illustration-index", "text:table-index",
            "text:object-index", "text:user-index", "text:bibliography", "text:sequence-decls", "office:forms",
            "text:tracked-changes", "text:variable-decls", "text:user-field-decls"}


def _table_rows(table) -> list[tuple[list[str], bool]]:
    rows: list[tuple[list[str], bool]] = []
    stack = [(child, False) for child in reversed(table.children)]
    while stack:
        element, in_header = stack.pop()
        if element.tag == "table:table-header-rows":
            stack.extend((child, True) for child in reversed(element.children))
        elif element.tag in ("table:table-rows", "table:table-row-group"):
            stack.extend((child, in_header) for child in reversed(element.children))
        elif element.tag == "table:table-row":
            cells = [squash(cell.text_content) for cell in element.children if cell.tag == "table:table-cell"]
            while cells and not cells[-1]:  # spreadsheets-style padding columns
                cells.pop()
            rows.append((cells, in_header))
    if not any(header for _, header in rows) and first_row_is_header([cells for cells, _ in rows]):
        rows[0] = (rows[0][0], True)
    return rows


def parse_odt(data: bytes, path: Path) -> ParsedDocument:
    with open_package(data, "odt") as package:
        try:
            manifest = package.read("META-INF/manifest.xml")
        except KeyError:
            manifest = b""
    if b"encryption-data" in manifest:
        raise DocumentError("ODT is password-protected; save a copy without the password and ingest that")
    from odfdo import Document

    document = Document(io.BytesIO(data))
    builder = SectionBuilder()
    stack = list(reversed(document.body.children))
    while stack:
        element = stack.pop()
        tag = element.tag
        if tag in _SKIPPED:
            continue
        if tag in _CONTAINERS:
            stack.extend(reversed(element.children))
        elif tag == "text:h":
            builder.heading(int(element.get_attribute("text:outline-level") or 1), element.get_formatted_text())
        elif tag == "text:p":
            builder.paragraph(element.get_formatted_text())
        elif tag == "table:table":
            builder.table(_table_rows(element))
    sections = builder.finish()
    title = squash(document.meta.title or "") or next((s.headings[0] for s in sections if s.headings), path.stem)
    return ParsedDocument(kind="odt", title=title, sections=sections)
