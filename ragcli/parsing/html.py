"""HTML: main content only, split into sections by the heading path (h1 > h2 > h3).

The page is read into a tree by beautifulsoup4 with lxml's HTML parser (libxml2: browsers'
error recovery for unclosed and misnested tags, and fast on a 20 MB page). The tree is then
walked with an explicit stack, never recursion, so nesting hundreds of thousands of levels deep
is just a long loop. Script, style and page chrome (navigation, cookie banners, footers, text
hidden by its style) are passed over: no reader sees them, and hidden text is a favourite place
to plant instructions for a model. The measurements against the streaming extractor this
replaced: benchmarks/RESULTS.md, "More formats, HTML through beautifulsoup4, CJK, watch".
"""

from __future__ import annotations

import re
from pathlib import Path

from ragcli.parsing.encoding import decode
from ragcli.parsing.outline import SectionBuilder, squash
from ragcli.records import ParsedDocument, Section

# Elements that never hold content a reader came for.
_DROP_TAGS = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "nav", "aside", "footer", "form", "button", "select", "head", "object"}
# Never text, even when page chrome is kept as a last resort.
_NEVER_TEXT = {"script", "style", "noscript", "template", "svg", "canvas", "head", "object"}
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
# A title longer than this is an unclosed <title> swallowing the page.
MAX_HEADING_CHARS = 300
_TITLE_TAG = re.compile(r"<title\b[^>]*>", re.IGNORECASE)


def _attribute(tag, name: str) -> str:
    value = tag.attrs.get(name)
    if value is None:
        return ""
    return " ".join(value) if isinstance(value, list) else str(value)


def _is_chrome(tag) -> bool:
    if tag.name in _DROP_TAGS:
        return True
    if _attribute(tag, "role") in _CHROME_ROLES or _attribute(tag, "aria-hidden") == "true" or "hidden" in tag.attrs:
        return True
    if _HIDDEN_STYLE.search(_attribute(tag, "style")):
        return True
    ident = f"{_attribute(tag, 'id')} {_attribute(tag, 'class')}".strip()
    return bool(ident) and bool(_CHROME_WORDS.search(ident))


def _skipped(tag, drop_chrome: bool) -> bool:
    return _is_chrome(tag) if drop_chrome else tag.name in _NEVER_TEXT


def _strings(root, drop_chrome: bool):
    """The text of ``root`` in document order, without what is skipped (iterative)."""
    from bs4 import NavigableString, Tag

    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node is root or not _skipped(node, drop_chrome):
                stack.extend(reversed(node.contents))
        elif type(node) is NavigableString:  # not comments, CDATA, doctypes or processing instructions
            yield str(node)


def _nearest(tag, names: tuple[str, ...]):
    parent = tag.parent
    while parent is not None and parent.name not in names:
        parent = parent.parent
    return parent


def _table_rows(table, drop_chrome: bool) -> list[tuple[list[str], bool]]:
    """The table's own rows (a table inside a cell is that cell's text)."""
    rows = []
    for row in table.find_all("tr"):
        if _nearest(row, ("table",)) is not table:
            continue
        cells = [cell for cell in row.find_all(("td", "th")) if _nearest(cell, ("tr",)) is row]
        if cells:
            texts = [squash("".join(_strings(cell, drop_chrome))) for cell in cells]
            rows.append((texts, all(cell.name == "th" for cell in cells)))
    return rows


def _walk(roots, builder: SectionBuilder, drop_chrome: bool) -> None:
    from bs4 import NavigableString, Tag

    # (node, leaving): a block element is visited again after its children to close its block.
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            builder.end_block(glue_next=node.name == "dt")
            continue
        if not isinstance(node, Tag):
            if type(node) is NavigableString:
                builder.text(str(node))
            continue
        if _skipped(node, drop_chrome):
            continue
        name = node.name
        if name in _HEADINGS:
            builder.heading(_HEADINGS[name], "".join(_strings(node, drop_chrome)))
        elif name == "pre":
            builder.verbatim("".join(_strings(node, drop_chrome)))
        elif name == "table":
            builder.table(_table_rows(node, drop_chrome))
        elif name in ("br", "hr"):
            builder.end_block()
        else:
            if name in _BLOCKS:
                builder.end_block()
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))


def _main_elements(soup) -> list:
    """The outermost <main> (or role=main) elements, in document order."""
    found = soup.find_all(lambda tag: tag.name == "main" or _attribute(tag, "role") == "main")
    chosen = set(map(id, found))
    return [tag for tag in found if not any(id(parent) in chosen for parent in tag.parents)]


def _soup(text: str):
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        # XHTML (EPUB chapters, some sites) is read as HTML on purpose: lxml's XML parser gives up
        # on the first error, and its HTML parser never expands entities a DTD declares.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(text, "lxml")


def parse_markup(text: str) -> tuple[str, list[Section]]:
    """The title and sections of an HTML (or XHTML) page's main content.

    Main content only; if that leaves nothing (no <main>, or a <main> that holds only chrome),
    the whole body; then, as a last resort, even what looked like page chrome.
    """
    soup = _soup(text)
    title_tag = soup.find("title")
    title = squash(title_tag.get_text()) if title_tag is not None else ""
    if len(title) > MAX_HEADING_CHARS:
        # An unclosed <title> swallowed the page: read it again with that tag taken out.
        soup = _soup(_TITLE_TAG.sub("", text, count=1))
        title = ""
    mains = _main_elements(soup)
    attempts = ([(mains, True)] if mains else []) + [([soup], True), ([soup], False)]
    sections: list[Section] = []
    for roots, drop_chrome in attempts:
        builder = SectionBuilder(MAX_HEADING_CHARS)
        _walk(roots, builder, drop_chrome)
        sections = builder.finish()
        if any(s.text.strip() for s in sections):
            break
    return title, sections


def parse_html(data: bytes, path: Path) -> ParsedDocument:
    title, sections = parse_markup(decode(data, markup=True))
    if not title:
        title = next((s.headings[0] for s in sections if s.headings), path.stem)
    return ParsedDocument(kind="html", title=title, sections=sections)
