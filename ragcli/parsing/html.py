"""HTML: main content only, split into sections by the heading path (h1 > h2 > h3).

The tree is walked iteratively, so deeply nested documents cannot exhaust
Python's recursion limit.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.records import ParsedDocument, Section

# Elements that never hold content a reader came for.
_DROP_TAGS = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "nav", "aside", "footer", "form", "button", "select", "head"}
# id/class words that mark navigation and page chrome.
_CHROME_WORDS = re.compile(
    r"(^|[-_\s])(nav|navbar|navigation|menu|sidebar|breadcrumbs?|cookies?|cookie-banner|consent|footer|skip-link|toc|site-header|masthead)($|[-_\s])",
    re.IGNORECASE,
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody",
    "tfoot", "blockquote", "figure", "figcaption", "address", "br", "hr", "details", "summary", "caption", "body", "html",
}
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


def _is_chrome(tag) -> bool:
    if tag.name in _DROP_TAGS:
        return True
    if tag.get("role") in ("navigation", "banner", "contentinfo", "search"):
        return True
    if tag.get("aria-hidden") == "true":
        return True
    ident = " ".join([str(tag.get("id") or "")] + list(tag.get("class") or []))
    return bool(ident.strip()) and bool(_CHROME_WORDS.search(ident))


def _table_lines(table) -> list[str]:
    """Rows as lines; the header row is repeated before each body row for context."""
    header: list[str] = []
    lines: list[str] = []
    for row in table.find_all("tr"):
        cells = [_SPACES.sub(" ", cell.get_text(" ", strip=True)) for cell in row.find_all(["th", "td"])]
        if not any(cells):
            continue
        if not header and row.find("th") is not None and row.find("td") is None:
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
        line = _SPACES.sub(" ", "".join(self.inline)).strip()
        line = re.sub(r"\s*\n\s*", " ", line)
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

    def heading(self, level: int, title: str) -> None:
        self.end_section()
        self.headings = [(lvl, h) for lvl, h in self.headings if lvl < level] + [(level, title)]

    def end_section(self) -> None:
        self.end_block()
        if self.blocks:
            self.sections.append(Section(text="\n\n".join(self.blocks), headings=tuple(h for _, h in self.headings)))
        self.blocks = []


def parse_html(data: bytes, path: Path) -> ParsedDocument:
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction

    soup = BeautifulSoup(data, "html.parser")
    title_tag = soup.find("title")
    title = _SPACES.sub(" ", title_tag.get_text(" ", strip=True)) if title_tag else ""
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    builder = _SectionBuilder()
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            builder.end_block(glue_next=node.name == "dt")
            continue
        if isinstance(node, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(node, NavigableString):
            builder.text(str(node))
            continue
        name = node.name
        if node is not root and _is_chrome(node):
            continue
        if name in _HEADINGS:
            heading = _SPACES.sub(" ", node.get_text(" ", strip=True))
            if heading:
                builder.heading(_HEADINGS[name], heading)
            continue
        if name == "pre":
            builder.verbatim(node.get_text())
            continue
        if name == "table":
            builder.end_block()
            for line in _table_lines(node):
                builder.blocks.append(line)
            continue
        if name in _BLOCKS:
            builder.end_block()
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    builder.end_section()
    if not title:
        title = next((s.headings[0] for s in builder.sections if s.headings), path.stem)
    return ParsedDocument(kind="html", title=title, sections=builder.sections)
