"""Parsers turn one file's bytes into sections of text with pages and headings."""

from __future__ import annotations

import importlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Protocol

from ragcli.errors import DocumentError
from ragcli.records import ParsedDocument


# Raised whenever a parser's output changes for files it could already read, so that an index built
# before re-reads every file once (vectors of unchanged chunk text are reused, not recomputed).
# 2: PDF pages are cut where their bookmarks start.
# 3: HTML elements hidden by their style (display: none, visibility: hidden) are dropped.
# 4: HTML is read through beautifulsoup4 and lxml (browsers' recovery of broken markup).
PARSER_REVISION = 4


class Parser(Protocol):
    def __call__(self, data: bytes, path: Path) -> ParsedDocument: ...


def _pdf(data: bytes, path: Path, ocr: bool = False) -> ParsedDocument:
    from ragcli.parsing.pdf import parse_pdf

    return parse_pdf(data, path, ocr=ocr)


def _lazy(module: str, name: str) -> Callable[[bytes, Path], ParsedDocument]:
    """The parser ``module.name``, imported on first use: `rag --help` loads no parser library."""

    def parse(data: bytes, path: Path) -> ParsedDocument:
        return getattr(importlib.import_module(module), name)(data, path)

    parse.__name__ = name
    return parse


_html = _lazy("ragcli.parsing.html", "parse_html")
_markdown = _lazy("ragcli.parsing.text", "parse_markdown")
_plain = _lazy("ragcli.parsing.text", "parse_plain_text")
_docx = _lazy("ragcli.parsing.word", "parse_docx")
_pptx = _lazy("ragcli.parsing.slides", "parse_pptx")
_odt = _lazy("ragcli.parsing.opendocument", "parse_odt")
_epub = _lazy("ragcli.parsing.ebook", "parse_epub")
_rtf = _lazy("ragcli.parsing.rtf", "parse_rtf")


PARSERS: dict[str, Callable[[bytes, Path], ParsedDocument]] = {
    ".pdf": _pdf,
    ".html": _html,
    ".htm": _html,
    ".xhtml": _html,
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _plain,
    ".text": _plain,
    ".rst": _plain,
    ".docx": _docx,
    ".pptx": _pptx,
    ".odt": _odt,
    ".epub": _epub,
    ".rtf": _rtf,
}

KIND_BY_SUFFIX = {
    ".pdf": "pdf", ".html": "html", ".htm": "html", ".xhtml": "html", ".md": "md", ".markdown": "md",
    ".docx": "docx", ".pptx": "pptx", ".odt": "odt", ".epub": "epub", ".rtf": "rtf",
}
# The kinds of document the catalog records (what --type accepts); any other suffix is text.
DOCUMENT_TYPES = tuple(dict.fromkeys([*KIND_BY_SUFFIX.values(), "txt"]))
# Binary formats: their bytes are not text, so the test for mislabelled binary files skips them.
_BINARY = {_pdf, _docx, _pptx, _odt, _epub}
# The formats as a person names them, for messages.
FORMAT_NAMES = "PDF, HTML, Markdown, text, DOCX, PPTX, ODT, EPUB, RTF"


# What a document's `page` counts: a PDF's pages, a PPTX's slides (other kinds have none).
_PAGE_NAMES = {"pptx": "slide"}


def page_label(path: str, page: int | None) -> str:
    """"page 3" for a PDF, "slide 3" for a PPTX, "" for a document without pages."""
    if page is None:
        return ""
    return f"{_PAGE_NAMES.get(kind_of(Path(path)), 'page')} {page}"


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in PARSERS


def kind_of(path: Path) -> str:
    return KIND_BY_SUFFIX.get(path.suffix.lower(), "txt")


# NUL and lone surrogates (from broken encodings or entities) cannot be stored or embedded.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


_MAX_REASON_CHARS = 300
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# Bytes that never occur in text files (tab, newlines, form feed and ESC excluded).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


def looks_binary(data: bytes) -> bool:
    """True for bytes that are no text encoding's output: many NUL or control bytes in the first 64 KB.

    A few stray ones (a damaged download) are tolerated; random or binary data has about 12%.
    """
    head = data[:65536]
    if head.startswith(_BOMS):  # UTF-16/32 text is full of NULs by design
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > max(8, len(head) // 100)


def parse_document(data: bytes, path: Path, *, ocr: bool = False) -> ParsedDocument:
    """Parse one file; any failure becomes a DocumentError that names the reason.

    ``ocr``: read PDF pages without a text layer with tesseract, when it is installed.
    """
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise DocumentError(f"unsupported file type {path.suffix!r}")
    if not data.strip():
        raise DocumentError("file is empty")
    if parser not in _BINARY and looks_binary(data):
        raise DocumentError(f"binary content, not {kind_of(path).upper()} text; the file may be mislabelled or damaged")
    try:
        document = parser(data, path, ocr=ocr) if parser is _pdf else parser(data, path)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError("document structure is nested too deeply to parse") from None
    except MemoryError:
        raise DocumentError("document is too large to parse in memory") from None
    except Exception as exc:  # parser libraries raise many types on malformed input
        # One line, of a readable length: libraries' messages can span lines and quote the input.
        reason = " ".join(str(exc).split())[:_MAX_REASON_CHARS]
        raise DocumentError(f"cannot parse {kind_of(path).upper()}: {type(exc).__name__}: {reason}") from exc
    if not any(section.text.strip() for section in document.sections):
        reason = "; ".join(document.warnings) or "no extractable text"
        raise DocumentError(f"no text found ({reason})")
    sections = [replace(s, text=_clean(s.text), headings=tuple(_clean(h) for h in s.headings)) for s in document.sections]
    return replace(document, title=_clean(document.title), sections=sections)
