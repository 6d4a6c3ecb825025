"""DOCX, PPTX, ODT, EPUB and RTF (issue 16): locators a reader can follow, tables as rows, the
new kinds in `--type` and `--path`. Hostile packages: tests/test_hostile_files.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.errors import DocumentError
from ragcli.ingest import ingest
from ragcli.parsing import DOCUMENT_TYPES, parse_document, page_label
from ragcli.retrieval.scope import Scope
from ragcli.retrieval.searcher import search
from tests import office_factory as office


def parsed(path: Path):
    return parse_document(path.read_bytes(), path)


def by_heading(document) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for section in document.sections:
        found[section.headings] = found.get(section.headings, "") + section.text
    return found


def test_docx_keeps_its_heading_path_and_names_every_table_cell_by_its_column(tmp_path):
    document = parsed(office.make_docx(tmp_path / "manual.docx"))
    assert document.kind == "docx" and document.title == "Widget Manual"
    sections = by_heading(document)
    assert list(sections) == [("Installing",), ("Installing", "Options"), ("Usage",)]
    assert "the wombat service starts on port 7713" in sections[("Installing",)]
    options = sections[("Installing", "Options")]
    assert "Use --force to overwrite existing files." in options
    # The header row is not a row of its own: it names the cells of every row after it.
    assert "Name: option0; Default: 0\n\nName: option1; Default: 1" in options
    assert "Name: Default" not in options and all(s.page is None for s in document.sections)


def test_a_long_table_repeats_its_header_in_every_chunk(tmp_path, settings):
    folder = tmp_path / "docs"
    folder.mkdir()
    office.make_docx(folder / "manual.docx")
    ingest(settings, [folder])
    hits = search(settings, "option42 default", k=5).hits
    table_hits = [hit for hit in hits if "option" in hit.text and "Default:" in hit.text]
    assert table_hits and all(
        line.startswith("Name: ") and "; Default: " in line
        for hit in table_hits for line in hit.text.splitlines() if "option" in line and "Name" in line
    )


def test_pptx_slides_are_pages_with_their_titles_notes_and_tables(tmp_path):
    document = parsed(office.make_pptx(tmp_path / "plan.pptx", hidden_slide=True))
    assert document.kind == "pptx"
    pages = [(s.page, s.headings, s.text) for s in document.sections]
    assert pages == [
        (1, ("Quarterly plan",), "Ship the lemur release in March"),
        (1, ("Quarterly plan", "Notes"), "Mention the beta testers"),
        (2, ("Regional sales",), "Region: North; Sales: 1210\n\nRegion: South; Sales: 877"),
        # The hidden third slide is left out; the fourth keeps the number the deck shows.
        (4, ("Risks",), "The supplier of capybara parts may be late"),
    ]
    assert document.warnings == ["1 hidden slide(s) left out"]
    assert page_label(str(tmp_path / "plan.pptx"), 4) == "slide 4" and page_label("a.pdf", 4) == "page 4"


def test_epub_sections_carry_their_chapter_and_headings_and_the_contents_page_is_left_out(tmp_path):
    document = parsed(office.make_epub(tmp_path / "birds.epub", chapters=3))
    assert document.kind == "epub" and document.title == "Birds of the river"
    sections = by_heading(document)
    assert list(sections) == [
        ("Chapter 1: Part 1",), ("Chapter 1: Part 1", "Feeding"), ("Chapter 2: Part 2",), ("Chapter 2: Part 2", "Feeding"),
        ("Chapter 3: Part 3",), ("Chapter 3: Part 3", "Feeding"),
    ]
    assert sections[("Chapter 1: Part 1",)] == "The kingfisher dives for fish."


def test_odt_headings_tables_and_lists(tmp_path):
    document = parsed(office.make_odt(tmp_path / "marsh.odt"))
    assert document.kind == "odt" and document.title == "Marsh birds"
    sections = by_heading(document)
    assert sections[("Birds",)] == "The heron stands still, then strikes."
    assert sections[("Birds", "Sizes")] == "Bird: heron; Length: 1 m\n\nBird: egret; Length: 0.9 m\n\nwades in water\n\nnests in reeds"


def test_rtf_text_code_page_and_table_rows(tmp_path):
    document = parsed(office.make_rtf(tmp_path / "guide.rtf"))
    assert document.kind == "rtf" and document.title == "Ocelot Guide"
    assert document.sections[0].text == (
        "Installing\n\nThe ocelot daemon listens on port 7713. Café € euro.\n\nName: size; Default: 10"
    )


def test_search_scopes_know_the_new_kinds(tmp_path, settings):
    folder = tmp_path / "docs"
    folder.mkdir()
    for suffix, make in office.MAKERS.items():
        make(folder / f"sample{suffix}")
    report = ingest(settings, [folder])
    assert report.failed == [] and report.indexed == 5
    assert {"docx", "pptx", "odt", "epub", "rtf"} <= set(DOCUMENT_TYPES)
    expected = {"docx": "wombat", "pptx": "lemur", "odt": "heron", "epub": "kingfisher", "rtf": "ocelot"}
    for kind, word in expected.items():
        hits = search(settings, word, k=3, scope=Scope(types=(kind,))).hits
        assert hits and {Path(h.path).suffix for h in hits} == {f".{kind}"} and word in hits[0].text.lower()
        hits = search(settings, word, k=3, scope=Scope(paths=(f"*.{kind}",))).hits
        assert hits and word in hits[0].text.lower()
    slide = search(settings, "capybara supplier", k=1, scope=Scope(types=("pptx",))).hits[0]
    assert slide.page == 3 and slide.headings == ("Risks",)


def test_rtf_that_is_not_rtf(tmp_path):
    with pytest.raises(DocumentError, match=r"not an RTF file \(no \{\\rtf header\)"):
        parse_document(b"just some words\n", Path("x.rtf"))


def test_walking_an_explicit_file_of_an_unknown_kind_lists_the_formats(tmp_path, settings):
    odd = tmp_path / "sheet.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    report = ingest(settings, [odd])
    assert report.failed[0].error == (
        "unsupported file type '.xlsx'; supported: PDF, HTML, Markdown, text, DOCX, PPTX, ODT, EPUB, RTF"
    )
