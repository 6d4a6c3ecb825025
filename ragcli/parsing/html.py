"""HTML: main content only, split into sections by the heading path (h1 > h2 > h3).

A streaming pass over the standard library's tokenizer, with no tree: memory
stays proportional to the text kept, a 20 MB single-line page parses in
seconds, and nesting hundreds of thousands of levels deep is just a long list,
never recursion.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from ragcli.parsing.encoding import decode
from ragcli.records import ParsedDocument, Section

# Elements that never hold content a reader came for.
_DROP_TAGS = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "nav", "aside", "footer", "form", "button", "select", "head", "object"}
# id/class words that mark navigation and page chrome.
_CHROME_WORDS = re.compile(
    r"(^|[-_\s])(nav|navbar|navigation|menu|sidebar|breadcrumbs?|cookies?|cookie-banner|consent|footer|skip-link|toc|site-header|masthead)($|[-_\s])",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.IGNORECASE)
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "search"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody",
    "tfoot", "blockquote", "figure", "figcaption", "address", "details", "summary", "caption", "body", "html", "tr",
}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_HAS_MAIN = re.compile(r"<main[\s>]|role\s*=\s*[\"']?main\b", re.IGNORECASE)
# A "heading" longer than this is an unclosed tag swallowing the page: keep it as body text.
_MAX_HEADING_CHARS = 300


def _squash(text: str) -> str:
    return _SPACES.sub(" ", re.sub(r"\s*\n\s*", " ", text)).strip()


# Never text, even when page chrome is kept as a last resort.
_NEVER_TEXT = {"script", "style", "noscript", "template", "svg", "canvas", "head", "object"}


def _is_chrome(tag: str, attrs: dict[str, str]) -> bool:
    if tag in _DROP_TAGS:
        return True
    if attrs.get("role") in _CHROME_ROLES or attrs.get("aria-hidden") == "true" or "hidden" in attrs:
        return True
    if _HIDDEN_STYLE.search(attrs.get("style") or ""):
        # Text no reader sees, and a favourite place to hide instructions for a model.
        return True
    ident = f"{attrs.get('id') or ''} {attrs.get('class') or ''}".strip()
    return bool(ident) and bool(_CHROME_WORDS.search(ident))


def _table_lines(rows: list[tuple[list[str], bool]]) -> list[str]:
    """Rows as lines; the header row is repeated before each body cell so every line stands alone."""
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


class _SectionBuilder:
    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.headings: list[tuple[int, str]] = []
        self.blocks: list[str] = []
        self.inline: list[str] = []
        # A definition term stays glued to its description, like a heading to its text.
        self.glue_next = False

    def text(self, value: str) -> None:
        self.inline.append(value)

    def end_block(self, glue_next: bool = False) -> None:
        line = _squash("".join(self.inline))
        self.inline.clear()
        if not line:
            return
        if self.glue_next and self.blocks:
            self.blocks[-1] += "\n" + line
        else:
            self.blocks.append(line)
        self.glue_next = glue_next

    def verbatim(self, value: str) -> None:
        self.end_block()
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        if value.strip():
            self.blocks.append(value)
        self.glue_next = False

    def lines(self, values: list[str]) -> None:
        """A table: one block, a row per line, so it is split between rows only when it must be."""
        self.end_block()
        if values:
            self.blocks.append("\n".join(values))
        self.glue_next = False

    def heading(self, level: int, title: str) -> None:
        self.end_section()
        self.headings = [(lvl, h) for lvl, h in self.headings if lvl < level] + [(level, title)]

    def end_section(self) -> None:
        self.end_block()
        if self.blocks:
            self.sections.append(Section(text="\n\n".join(self.blocks), headings=tuple(h for _, h in self.headings)))
        self.blocks = []


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[list[str], bool]] = []
        self.cells: list[str] | None = None
        self.header_only = True
        self.cell: list[str] | None = None

    def start_row(self) -> None:
        self.end_row()
        self.cells, self.header_only = [], True

    def start_cell(self, tag: str) -> None:
        self.end_cell()
        if self.cells is None:
            self.start_row()
        self.cell = []
        self.header_only = self.header_only and tag == "th"

    def end_cell(self) -> None:
        if self.cell is not None and self.cells is not None:
            self.cells.append(_squash("".join(self.cell)))
        self.cell = None

    def end_row(self) -> None:
        self.end_cell()
        if self.cells:
            self.rows.append((self.cells, self.header_only))
        self.cells = None


class _Extractor(HTMLParser):
    def __init__(self, main_only: bool, drop_chrome: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = _SectionBuilder()
        self.main_only = main_only
        self.drop_chrome = drop_chrome
        self.stack: list[str] = []
        self.open = Counter()
        # Open elements that hide their content (chrome), that are main content, and how they nest.
        self.chrome: list[int] = []
        self.main: list[int] = []
        self.title: list[str] | None = None
        self.title_text = ""
        self.heading: tuple[int, int, list[str]] | None = None  # (depth, level, text)
        self.pre: tuple[int, list[str]] | None = None
        self.tables: list[tuple[int, _Table]] = []

    @property
    def collecting(self) -> bool:
        return not self.chrome and (not self.main_only or bool(self.main))

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = {name: value or "" for name, value in attr_list}
        if tag == "title" and not self.title_text and self.title is None:
            self.title = []
        elif self.title is not None and (tag in _BLOCKS or tag in _HEADINGS):
            self._end_title()  # an unclosed <title> must not swallow the page
        if tag in _VOID:
            if tag in ("br", "hr") and self.collecting:
                if self.pre is not None:
                    self.pre[1].append("\n")
                elif not self.tables:
                    self.builder.end_block()
            return
        depth = len(self.stack)
        self.stack.append(tag)
        self.open[tag] += 1
        if tag != "title" and (_is_chrome(tag, attrs) if self.drop_chrome else tag in _NEVER_TEXT):
            self.chrome.append(depth)
            return
        if tag == "main" or attrs.get("role") == "main":
            self.main.append(depth)
        if not self.collecting:
            return
        if self.pre is not None or self.heading is not None:
            return  # markup inside code blocks and headings is only styling
        if tag in _HEADINGS:
            self.heading = (depth, _HEADINGS[tag], [])
        elif tag == "pre" and not self.tables:  # code in a table cell stays cell text, in place
            self.pre = (depth, [])
        elif tag == "table":
            if not self.tables:
                self.builder.end_block()
            self.tables.append((depth, _Table()))
        elif self.tables and tag in ("tr", "td", "th"):
            table = self.tables[-1][1]
            table.start_row() if tag == "tr" else table.start_cell(tag)
        elif tag in _BLOCKS and not self.tables:
            self.builder.end_block()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title is not None:
            self._end_title()
        if not self.open[tag]:
            return  # a stray end tag closes nothing
        while self.stack:
            closed = self.stack.pop()
            self.open[closed] -= 1
            self._close(closed, len(self.stack))
            if closed == tag:
                break

    def _end_title(self) -> None:
        self.title_text = _squash("".join(self.title or []))[:_MAX_HEADING_CHARS]
        self.title = None

    def _close(self, tag: str, depth: int) -> None:
        if self.chrome and self.chrome[-1] == depth:
            self.chrome.pop()
            return
        if self.main and self.main[-1] == depth:
            self.main.pop()
        if self.heading is not None and self.heading[0] == depth:
            _, level, parts = self.heading
            self.heading = None
            text = _squash("".join(parts))
            if len(text) > _MAX_HEADING_CHARS:
                self.builder.lines([text])
            elif text:
                self.builder.heading(level, text)
            return
        if self.pre is not None and self.pre[0] == depth:
            self.builder.verbatim("".join(self.pre[1]))
            self.pre = None
            return
        if self.tables and self.tables[-1][0] == depth:
            _, table = self.tables.pop()
            table.end_row()
            lines = _table_lines(table.rows)
            if self.tables:  # a table inside a cell: its rows become that cell's text
                outer = self.tables[-1][1]
                if outer.cell is not None:
                    outer.cell.append(" " + " / ".join(lines) + " ")
            else:
                self.builder.lines(lines)
            return
        if self.tables and self.heading is None and self.pre is None:
            table = self.tables[-1][1]
            if tag in ("td", "th"):
                table.end_cell()
            elif tag == "tr":
                table.end_row()
            return
        if self.collecting and tag in _BLOCKS and self.heading is None and self.pre is None:
            self.builder.end_block(glue_next=tag == "dt")

    def handle_data(self, data: str) -> None:
        if self.title is not None:
            self.title.append(data)
            return
        if not self.collecting:
            return
        if self.heading is not None:
            self.heading[2].append(data)
        elif self.pre is not None:
            self.pre[1].append(data)
        elif self.tables:
            cell = self.tables[-1][1].cell
            if cell is not None:
                cell.append(data)
            elif data.strip():  # text loose in a table (bad markup): keep it as a line of its own
                self.tables[-1][1].rows.append(([_squash(data)], False))
        else:
            self.builder.text(data)

    def finish(self) -> list[Section]:
        # Unclosed elements at the end of the page close in order, innermost first.
        while self.stack:
            closed = self.stack.pop()
            self.open[closed] -= 1
            self._close(closed, len(self.stack))
        if self.title is not None:
            self._end_title()
        self.builder.end_section()
        return self.builder.sections


def _extract(text: str, main_only: bool, drop_chrome: bool) -> _Extractor:
    extractor = _Extractor(main_only=main_only, drop_chrome=drop_chrome)
    extractor.feed(text)
    extractor.close()
    extractor.sections = extractor.finish()
    return extractor


def parse_html(data: bytes, path: Path) -> ParsedDocument:
    text = decode(data, markup=True)
    # Main content only; if that leaves nothing (no real <main>, or an unclosed <nav> that swallows
    # the page), the whole body; then, as a last resort, even what looked like page chrome.
    attempts = [(True, True)] if _HAS_MAIN.search(text) else []
    attempts += [(False, True), (False, False)]
    for main_only, drop_chrome in attempts:
        extractor = _extract(text, main_only, drop_chrome)
        sections = extractor.sections
        if any(s.text.strip() for s in sections):
            break
    title = extractor.title_text
    if not title:
        title = next((s.headings[0] for s in sections if s.headings), path.stem)
    return ParsedDocument(kind="html", title=title, sections=sections)
