import os
from pathlib import Path

import pytest

from ragcli.errors import DocumentError
from ragcli.parsing import parse_document
from tests.conftest import SAMPLE_DOCS
from tests.pdf_factory import make_pdf


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def parse(name: str, data: bytes):
    return parse_document(data, Path(name))


def test_html_keeps_title_headings_and_drops_chrome():
    html = b"""<html><head><title>Widget Guide</title><script>var x = 'tracking';</script></head><body>
    <nav><a href="/">Home</a> | <a href="/menu">Menu link</a></nav>
    <div class="cookie-banner">We use cookies</div>
    <h1>Widgets</h1><p>Widgets are small.</p>
    <h2>Install</h2><p>Run <code>widget --install</code> now.</p>
    <pre>line one
    line two</pre>
    <h3>Options</h3><dl><dt>--force</dt><dd>Overwrite files.</dd></dl>
    <table><tr><th>Name</th><th>Default</th></tr><tr><td>size</td><td>10</td></tr></table>
    <footer>Copyright footer</footer></body></html>"""
    doc = parse("guide.html", html)
    assert doc.title == "Widget Guide"
    text = "\n".join(s.text for s in doc.sections)
    for unwanted in ("tracking", "Menu link", "cookies", "Copyright footer"):
        assert unwanted not in text
    by_heading = {s.headings: s.text for s in doc.sections}
    assert "Widgets are small." in by_heading[("Widgets",)]
    assert "Run widget --install now." in by_heading[("Widgets", "Install")]
    assert "line one\n    line two" in by_heading[("Widgets", "Install")]
    options = by_heading[("Widgets", "Install", "Options")]
    assert "--force\nOverwrite files." in options  # term glued to its description
    assert "Name: size; Default: 10" in options


def test_html_legacy_encoding_from_meta():
    html = '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>'
    doc = parse("menu.html", html.encode("cp1252"))
    assert doc.title == "Café"
    assert "Crème brûlée" in doc.sections[0].text


def test_deeply_nested_html_does_not_recurse(tmp_path):
    depth = 20000
    html = ("<div>" * depth + "<p>deep text</p>" + "</div>" * depth).encode()
    doc = parse("deep.html", html)
    assert "deep text" in doc.sections[0].text


def test_markdown_headings_become_context_and_code_fences_are_not_headings():
    md = b"# Title\n\nIntro.\n\n## Usage\n\n```sh\n# not a heading\nrun it\n```\n\n### Flags\n\nUse -v.\n"
    doc = parse("readme.md", md)
    assert doc.title == "Title"
    assert [s.headings for s in doc.sections] == [("Title",), ("Title", "Usage"), ("Title", "Usage", "Flags")]
    assert "# not a heading" in doc.sections[1].text


def test_pdf_pages_outline_and_running_footer_removed():
    doc = parse("zlib-faq.pdf", (SAMPLE_DOCS / "zlib-faq.pdf").read_bytes())
    assert sorted({s.page for s in doc.sections}) == list(range(1, 7))
    assert any("EAR99" in s.text for s in doc.sections if s.page == 6)
    assert "11. Can zlib handle .zip archives?" in {s.headings[-1] for s in doc.sections if s.page == 2}
    assert all("Frequently Asked Questions about zlib (zlib 1.2.13 distribution)" not in s.text for s in doc.sections[1:])
    assert any(s.headings for s in doc.sections)


def _with_bookmarks(data: bytes, bookmarks: list[tuple[str, int, str | None]]) -> bytes:
    """Add outline entries (title, 0-based page, parent title or None) to a PDF."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    made = {}
    for title, page, parent in bookmarks:
        made[title] = writer.add_outline_item(title=title, page_number=page, parent=made.get(parent))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_pages_are_cut_where_bookmarks_start_so_each_piece_has_its_own_heading():
    pages = [
        ["Smooth", "The smooth option filters data.", "Bezier The bezier option draws a curve."],
        ["more about bezier curves here.", "Cnormal The cnormal option normalises to one.", "Kdensity Kernel sums."],
    ]
    data = _with_bookmarks(
        make_pdf(pages),
        [("Smooth", 0, None), ("Bezier", 0, "Smooth"), ("Cnormal", 1, "Smooth"), ("Kdensity", 1, "Smooth"), ("Not_in_text", 1, "Smooth")],
    )
    doc = parse("manual.pdf", data)
    pieces = [(s.page, s.headings, s.text.split()[0]) for s in doc.sections]
    assert pieces == [
        (1, ("Smooth",), "Smooth"),
        (1, ("Smooth", "Bezier"), "Bezier"),
        # The top of page 2 continues the section that page 1 ended in.
        (2, ("Smooth", "Bezier"), "more"),
        (2, ("Smooth", "Cnormal"), "Cnormal"),
        # A title missing from the text starts where the previous one did; the later bookmark wins.
        (2, ("Smooth", "Not_in_text"), "Kdensity"),
    ]


def test_pdf_with_many_pages_keeps_page_numbers():
    doc = parse("spec.pdf", (SAMPLE_DOCS / "shared-mime-info-spec.pdf").read_bytes())
    pages: dict[int, str] = {}
    for section in doc.sections:
        pages[section.page] = pages.get(section.page, "") + "\n" + section.text
    assert len(pages) == 17
    assert "the default weight value is 50" in norm(pages[4])
    assert "user.mime_type" in norm(pages[14])


@pytest.mark.parametrize("name", ["x.pdf", "x.html", "x.md", "x.txt"])
def test_empty_files_are_rejected_with_a_reason(name):
    with pytest.raises(DocumentError, match="empty"):
        parse(name, b"  \n ")


def test_random_bytes_named_pdf_is_a_clear_error():
    with pytest.raises(DocumentError, match="PDF"):
        parse("noise.pdf", os.urandom(4096))


def test_truncated_pdf_fails_or_keeps_what_it_can():
    data = (SAMPLE_DOCS / "zlib-faq.pdf").read_bytes()
    try:
        doc = parse("cut.pdf", data[: len(data) // 2])
    except DocumentError as exc:
        assert str(exc)
    else:
        assert doc.sections


def test_unsupported_suffix():
    with pytest.raises(DocumentError, match="unsupported"):
        parse("image.png", b"\x89PNG")


def test_markdown_setext_headings_and_rules():
    md = b"---\ntitle: front matter\n---\n\nGuide\n=====\n\nIntro text.\n\nSetup\n-----\n\nRun it.\n\n---\n\nAfter a rule.\n"
    doc = parse("guide.md", md)
    assert doc.title == "Guide"
    by_heading = {s.headings: s.text for s in doc.sections}
    assert by_heading[("Guide",)] == "Intro text."
    assert "Run it." in by_heading[("Guide", "Setup")] and "After a rule." in by_heading[("Guide", "Setup")]


def test_plain_text_and_rst_underlined_headings_become_context():
    rst = b"=====\nTapir\n=====\n\nAbout tapirs.\n\nHabitat\n=======\n\nForests.\n\nDiet\n----\n\nFruit.\n\nA line\nthat is not a heading.\n"
    doc = parse("tapir.rst", rst)
    assert doc.title == "Tapir"
    assert [(s.headings, s.text) for s in doc.sections] == [
        (("Tapir",), "About tapirs."),
        (("Tapir", "Habitat"), "Forests."),
        (("Tapir", "Habitat", "Diet"), "Fruit.\n\nA line\nthat is not a heading."),
    ]


def test_text_in_a_legacy_encoding_is_detected():
    text = "Привет, мир. Это документ в кодировке KOI8-R о настройке сервера и его параметрах." * 5
    doc = parse("note.txt", text.encode("koi8_r"))
    assert "Привет, мир" in doc.sections[0].text


def test_html_with_a_wrong_charset_declaration_still_reads():
    html = '<html><head><meta charset="utf-8"><title>Menu</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p></body></html>'
    doc = parse("menu.html", html.encode("cp1252"))
    assert "Crème brûlée" in doc.sections[0].text


def test_html_code_blocks_stay_intact_and_tables_repeat_headers():
    html = b"""<html><body><h1>Ref</h1><pre><code>for i in 1 2 3; do
    echo "$i"   # keep   spacing
done</code></pre><table><thead><tr><th>Option</th><th>Default</th></tr></thead>
<tbody><tr><td>--depth</td><td>1</td></tr><tr><td>--jobs</td><td>4</td></tr></tbody></table></body></html>"""
    text = parse("ref.html", html).sections[0].text
    assert 'for i in 1 2 3; do\n    echo "$i"   # keep   spacing\ndone' in text
    assert "Option: --depth; Default: 1\n\nOption: --jobs; Default: 4" in text


def test_boilerplate_repeated_on_pages_is_stored_once():
    from ragcli.chunking import ChunkingPlan, chunk_sections
    from ragcli.records import Section

    notice = "Copyright 2024 Example Corp. All rights reserved. Do not distribute."
    sections = [Section(text=f"Page {n} body about topic {n}.\n\n{notice}", page=n) for n in range(1, 6)]
    chunks = chunk_sections(sections, "Doc", lambda texts: [len(t.split()) for t in texts], ChunkingPlan(50, 5, 100))
    assert sum(notice in c.text for c in chunks) == 1
    assert [c.page for c in chunks if "body about topic" in c.text] == [1, 2, 3, 4, 5]
