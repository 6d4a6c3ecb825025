"""EPUB through ebooklib: the spine's documents in reading order, each read by the HTML parser.

A section's heading path starts with its chapter, named as the book's table of contents names
it (or by the chapter's own title or first heading), followed by the headings inside the
chapter. The navigation document is the table of contents itself and is left out. A book whose
chapters are encrypted (DRM) is refused; obfuscated fonts, which every store uses, are not text.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ragcli.errors import DocumentError
from ragcli.parsing.archive import open_package
from ragcli.parsing.encoding import decode
from ragcli.parsing.html import parse_markup
from ragcli.parsing.outline import squash
from ragcli.records import ParsedDocument, Section

_CIPHER_REFERENCE = re.compile(rb"""CipherReference[^>]*?URI\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2", ".eot")


def _refuse_drm(package) -> None:
    try:
        encryption = package.read("META-INF/encryption.xml")
    except KeyError:
        return
    encrypted = [uri.decode("utf-8", "replace") for uri in _CIPHER_REFERENCE.findall(encryption)]
    if any(not uri.lower().endswith(_FONT_SUFFIXES) for uri in encrypted):
        raise DocumentError("EPUB is encrypted (DRM): its chapters cannot be read; ingest a DRM-free copy")


def _chapter_titles(toc) -> dict[str, str]:
    """Document href -> the first table-of-contents title that points into it (iterative)."""
    titles: dict[str, str] = {}
    stack = [iter(toc)]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if isinstance(entry, (list, tuple)):
            stack.append(iter(entry))
            continue
        href = (getattr(entry, "href", "") or "").split("#")[0]
        title = squash(getattr(entry, "title", "") or "")
        if href and title:
            titles.setdefault(href, title)
    return titles


def parse_epub(data: bytes, path: Path) -> ParsedDocument:
    with open_package(data, "epub") as package:
        _refuse_drm(package)
    import ebooklib
    from ebooklib import epub

    # EPUB 2 books have their table of contents in the NCX only: it is read.
    book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": False})
    titles = _chapter_titles(book.toc)
    sections: list[Section] = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or isinstance(item, epub.EpubNav) or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        page_title, chapter_sections = parse_markup(decode(item.get_content(), markup=True))
        chapter = titles.get(item.get_name()) or page_title
        if not chapter:
            chapter = next((s.headings[0] for s in chapter_sections if s.headings), "")
        for section in chapter_sections:
            headings = section.headings
            if chapter and headings and headings[0].casefold() in chapter.casefold():
                headings = (chapter, *headings[1:])  # "Herons" under the contents' "Chapter 1: Herons"
            elif chapter:
                headings = (chapter, *headings)
            sections.append(Section(text=section.text, headings=headings))
    names = book.get_metadata("DC", "title")
    title = squash(names[0][0]) if names and names[0] and names[0][0] else path.stem
    return ParsedDocument(kind="epub", title=title, sections=sections)
