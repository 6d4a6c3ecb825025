"""PDF: sections per page, cut where bookmarks start, each with its outline (bookmark) path as headings.

Lines repeated at the top or bottom of most pages (running headers, footers,
page numbers) are dropped, and words hyphenated across line breaks rejoined.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from pathlib import Path

from ragcli.errors import DocumentError
from ragcli.parsing.ocr import ocr_available, ocr_page
from ragcli.records import ParsedDocument, Section

logging.getLogger("pypdf").setLevel(logging.ERROR)

_HYPHENATED = re.compile(r"([a-z])-\n([a-z])")
_DIGITS = re.compile(r"\d+")
# pypdf returns some bullet glyphs as C1 control characters.
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_EDGE_LINES = 2


def _line_shape(line: str) -> str:
    return _DIGITS.sub("#", line.strip().lower())


def _repeated_edge_lines(pages: list[list[str]]) -> set[str]:
    """Shapes of lines that open or close at least half of the pages."""
    if len(pages) < 4:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edges = {_line_shape(line) for line in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:] if line.strip()}
        counts.update(edges)
    # Odd and even pages often carry mirrored headers, so a third is enough.
    threshold = max(3, len(pages) // 3)
    return {shape for shape, count in counts.items() if count >= threshold}


def _strip_edges(lines: list[str], repeated: set[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < min(end, _EDGE_LINES) and _line_shape(lines[start]) in repeated:
        start += 1
    while end > max(start, len(lines) - _EDGE_LINES) and _line_shape(lines[end - 1]) in repeated:
        end -= 1
    return lines[start:end]


def _outline_starts(reader) -> dict[int, list[tuple[str, ...]]]:
    """Heading paths of the bookmarks that start on each 0-based page, in outline order."""
    starts: dict[int, list[tuple[str, ...]]] = {}

    def visit(items, trail: tuple[str, ...]) -> None:
        last: tuple[str, ...] = trail
        for item in items:
            if isinstance(item, list):
                visit(item, last)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # malformed outline entries are common; skip them
                continue
            if page is None or page < 0 or not title:
                continue
            last = trail + (title,)
            starts.setdefault(page, []).append(last)

    try:
        visit(reader.outline, ())
    except Exception:  # no outline, or a broken one: headings are a bonus
        return {}
    return starts


def _title_patterns(title: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Where a bookmark's title opens a line (after an optional section number), or failing that, anywhere.

    Bookmark titles often spell spaces as underscores (``Set datafile nofpe_trap``).
    """
    body = r"[\s_]+".join(re.escape(word) for word in re.split(r"[\s_]+", title) if word)
    return (
        re.compile(rf"(?im)^[ \t]*(?:\d+(?:\.\d+)*\.?[ \t]+)?{body}(?!\w)"),
        re.compile(rf"(?i)(?<!\w){body}(?!\w)"),
    )


def _split_at_bookmarks(
    text: str, bookmarks: list[tuple[str, ...]], carried: tuple[str, ...]
) -> list[tuple[str, tuple[str, ...]]]:
    """Cut one page where its bookmarks' titles appear, so each piece keeps its own heading path.

    Text above the first bookmark still belongs to the section carried over from
    earlier pages. A title not found in the text starts where the previous one did.
    """
    cuts: list[tuple[int, tuple[str, ...]]] = [(0, carried)]
    position = 0
    for headings in bookmarks:
        for pattern in _title_patterns(headings[-1]):
            found = pattern.search(text, position)
            if found:
                position = found.start()
                break
        cuts.append((position, headings))
    pieces = []
    for (start, headings), (end, _) in zip(cuts, cuts[1:] + [(len(text), ())]):
        piece = text[start:end].strip()
        if piece:
            pieces.append((piece, headings))
    return pieces


def _shared_content_key(page) -> str | None:
    """Which content streams and resources a page draws, when both are shared objects (None otherwise)."""
    from pypdf.generic import ArrayObject, IndirectObject

    def reference(value) -> str | None:
        if isinstance(value, IndirectObject):
            return f"{value.idnum} {value.generation}"
        if isinstance(value, ArrayObject) and value and all(isinstance(v, IndirectObject) for v in value):
            return ",".join(f"{v.idnum} {v.generation}" for v in value)
        return None

    try:
        contents = reference(page.raw_get("/Contents"))
        if "/Resources" not in page:
            # Inherited from the page's parent in the page tree.
            resources = "parent " + str(reference(page.raw_get("/Parent")))
        else:
            raw = page.raw_get("/Resources")
            resources = reference(raw) or ("inline " + repr(raw))
    except Exception:  # an odd page dictionary: simply not shared
        return None
    return f"{contents}|{resources}" if contents else None


def _failure(exc: Exception) -> str:
    """Why pypdf gave up, in words; its limit errors mean a stream inflates past pypdf's cap."""
    if type(exc).__name__ == "LimitReachedError":
        return f"a compressed stream expands past the decompression limit (possible compression bomb: {exc})"
    return f"{type(exc).__name__}: {exc}"


def _open(data: bytes):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:1024].count(b"%PDF"):
        raise DocumentError("not a PDF (no %PDF header); the file may be mislabelled or damaged")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except PdfReadError as exc:
        raise DocumentError(f"not a readable PDF (damaged or truncated): {exc}") from exc
    if reader.is_encrypted:
        try:
            unlocked = reader.decrypt("")
        except Exception as exc:  # e.g. AES without the cryptography package, or a broken /Encrypt dictionary
            raise DocumentError(f"encrypted PDF cannot be opened: {_failure(exc)}") from exc
        if not unlocked:
            raise DocumentError("encrypted PDF needs a password; decrypt it (e.g. qpdf --decrypt) and ingest the copy")
    return reader


def parse_pdf(data: bytes, path: Path, *, ocr: bool = False) -> ParsedDocument:
    reader = _open(data)
    warnings: list[str] = []
    page_lines: list[list[str]] = []
    try:
        pages = list(reader.pages)
    except Exception as exc:  # a broken page tree: nothing to read
        raise DocumentError(f"cannot read the PDF's pages: {_failure(exc)}") from exc
    ocr_pages: list[int] = []
    failed_pages: set[int] = set()
    extracted: dict[str, str] = {}
    for number, page in enumerate(pages, start=1):
        key = _shared_content_key(page)
        try:
            # Pages that share their content stream and resources read the same: a 100 KB file
            # whose pages all point at one 70 MB stream would otherwise inflate it once per page.
            text = extracted[key] if key in extracted else (page.extract_text() or "")
        except Exception as exc:  # one bad page must not lose the rest of the document
            warnings.append(f"page {number}: text extraction failed ({_failure(exc)})")
            failed_pages.add(number)
            text = ""
        if key is not None:
            extracted[key] = text
        if not text.strip() and ocr and number not in failed_pages:
            text = ocr_page(page)
            if text.strip():
                ocr_pages.append(number)
        page_lines.append(text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n"))
    if ocr_pages:
        warnings.append(f"{len(ocr_pages)} page(s) read by OCR: {_page_list(ocr_pages)}")

    repeated = _repeated_edge_lines(page_lines)
    bookmarks = _outline_starts(reader)
    sections: list[Section] = []
    empty_pages: list[int] = []
    carried: tuple[str, ...] = ()
    for index, lines in enumerate(page_lines):
        text = "\n".join(_strip_edges(lines, repeated)).strip()
        text = _C1_CONTROLS.sub("•", _HYPHENATED.sub(r"\1\2", text))
        starting_here = bookmarks.get(index, [])
        if not text:
            if index + 1 not in failed_pages:
                empty_pages.append(index + 1)
        else:
            for piece, headings in _split_at_bookmarks(text, starting_here, carried):
                sections.append(Section(text=piece, page=index + 1, headings=headings))
        if starting_here:
            carried = starting_here[-1]
    if empty_pages:
        hint = " (install tesseract to OCR them)" if ocr and not ocr_available() else ""
        warnings.append(f"no text layer on page(s) {_page_list(empty_pages)}{hint}")

    title = ""
    try:
        title = " ".join(str((reader.metadata or {}).get("/Title") or "").split())
    except Exception:  # broken metadata dictionaries are common and harmless
        title = ""
    return ParsedDocument(kind="pdf", title=title or path.stem, sections=sections, warnings=warnings)


def _page_list(pages: list[int]) -> str:
    shown = ", ".join(str(p) for p in pages[:10])
    return shown + (f" and {len(pages) - 10} more" if len(pages) > 10 else "")
