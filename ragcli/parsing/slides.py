"""PPTX through python-pptx: one page per slide (the slide number a reader sees), under its title.

A slide's shapes are read top to bottom, then left to right, groups included; tables by row;
the speaker notes follow under "Notes". Hidden slides are left out, as hidden HTML is: nobody
presenting the deck shows them, and they keep their numbers so that the others match the deck.
"""

from __future__ import annotations

import io
from pathlib import Path

from ragcli.parsing.archive import open_package
from ragcli.parsing.outline import SectionBuilder, first_row_is_header, squash
from ragcli.records import ParsedDocument

NOTES_HEADING = "Notes"


def _sorted(shapes) -> list:
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _reading_order(shapes) -> list:
    """The shapes sorted by position, a group's members read where the group stands (iterative)."""
    from pptx.shapes.group import GroupShape

    ordered, stack = [], [iter(_sorted(shapes))]
    while stack:
        shape = next(stack[-1], None)
        if shape is None:
            stack.pop()
        elif isinstance(shape, GroupShape):
            stack.append(iter(_sorted(shape.shapes)))
        else:
            ordered.append(shape)
    return ordered


def _table_rows(table) -> list[tuple[list[str], bool]]:
    rows = [[squash(cell.text) for cell in row.cells] for row in table.rows]
    header = table.first_row or first_row_is_header(rows)
    return [(cells, header and i == 0) for i, cells in enumerate(rows)]


def _read_shape(shape, builder: SectionBuilder) -> None:
    if getattr(shape, "has_table", False) and shape.has_table:
        builder.table(_table_rows(shape.table))
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            builder.paragraph(paragraph.text)


def parse_pptx(data: bytes, path: Path) -> ParsedDocument:
    open_package(data, "pptx").close()
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    builder = SectionBuilder()
    first_title = ""
    hidden = 0
    for number, slide in enumerate(presentation.slides, start=1):
        if slide._element.get("show") in ("0", "false"):
            hidden += 1
            continue
        builder.new_page(number)
        title_shape = slide.shapes.title
        title = squash(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
        builder.heading(1, title or f"Slide {number}")
        first_title = first_title or title
        for shape in _reading_order(slide.shapes):
            if title_shape is None or shape.shape_id != title_shape.shape_id:
                _read_shape(shape, builder)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text
            if notes.strip():
                builder.heading(2, NOTES_HEADING)
                for line in notes.splitlines():
                    builder.paragraph(line)
    warnings = [f"{hidden} hidden slide(s) left out"] if hidden else []
    title = squash(presentation.core_properties.title or "") or first_title or path.stem
    return ParsedDocument(kind="pptx", title=title, sections=builder.finish(), warnings=warnings)
