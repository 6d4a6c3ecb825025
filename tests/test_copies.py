"""Near-duplicate documents (ragcli.copies): a page as .html and as its .txt source, or one PDF in
two folders, is indexed once; the copy is reported, kept out of the search, and indexed itself
when the document it repeats goes away or changes."""

import dataclasses
import random
import shutil

from ragcli.copies import contained, repeats, sketch
from ragcli.ingest import ingest
from ragcli.parsing import parse_document
from ragcli.retrieval.searcher import Searcher
from ragcli.status import index_status


def text_twin(html, target):
    """The .txt source of an HTML page: its title underlined, then its text."""
    document = parse_document(html.read_bytes(), html)
    target.write_text(document.title + "\n" + "=" * len(document.title) + "\n\n" + "\n\n".join(s.text for s in document.sections))
    return target


def searched_paths(settings, query, k=20):
    with Searcher.open(settings) as searcher:
        return {hit.path for hit in searcher.search(query, k).hits}


def test_an_html_page_and_its_txt_source_and_a_copied_pdf_are_indexed_once(settings, docs, tmp_path):
    twin = text_twin(docs / "ninja-build-manual.html", docs / "ninja-build-manual.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(docs / "zlib-faq.pdf", elsewhere / "zlib-faq (1).pdf")
    report = ingest(settings, [docs, elsewhere])
    assert {(d.path, d.error) for d in report.duplicates} == {
        (str(twin), str(docs / "ninja-build-manual.html")),
        (str(elsewhere / "zlib-faq (1).pdf"), str(docs / "zlib-faq.pdf")),
    }
    assert report.indexed == 5 and report.to_json()["duplicates"][0]["same_as"]
    found = searched_paths(settings, "ninja build edges rules zlib export")
    assert str(twin) not in found and str(elsewhere / "zlib-faq (1).pdf") not in found
    assert str(docs / "ninja-build-manual.html") in found
    listed = index_status(settings)["duplicates"]
    assert {c["path"] for c in listed} == {str(twin), str(elsewhere / "zlib-faq (1).pdf")}
    again = ingest(settings, [docs, elsewhere])
    assert again.unchanged == 7 and again.indexed == 0 and not again.duplicates


def test_a_document_that_adds_text_of_its_own_or_has_another_title_is_never_a_copy(settings, docs):
    page = (docs / "nodejs-intl.md").read_text()
    # Everything the page says and a new section (walked after it): hiding it would lose that section.
    (docs / "nodejs-intl.z-extended.md").write_text(page + "\n\n## Appendix\n\n" + " ".join(
        f"The appendix paragraph {n} explains the {word} option in detail." for n, word in enumerate(["alpha", "beta", "gamma"] * 40)))
    # Most of the page under another title: a page of its own built from shared parts.
    lines = page.splitlines()
    (docs / "other-title.md").write_text("# Locale data in embedded runtimes\n\n" + "\n".join(lines[1:int(len(lines) * 0.85)]))
    report = ingest(settings, [docs])
    assert not report.duplicates and report.indexed == 7


def test_the_copy_is_indexed_in_the_same_run_when_its_document_goes_away(settings, docs):
    twin = text_twin(docs / "ninja-build-manual.html", docs / "ninja-build-manual.txt")
    assert [d.path for d in ingest(settings, [docs]).duplicates] == [str(twin)]
    (docs / "ninja-build-manual.html").unlink()
    report = ingest(settings, [docs])
    assert report.removed == 1 and report.indexed == 1 and report.reread == 0 and not report.duplicates
    assert str(twin) in searched_paths(settings, "ninja build manifest rules edges")
    assert index_status(settings)["duplicates"] == []


def test_the_copy_is_indexed_in_the_same_run_when_its_document_changes(settings, docs):
    twin = text_twin(docs / "ninja-build-manual.html", docs / "ninja-build-manual.txt")
    ingest(settings, [docs])
    (docs / "ninja-build-manual.html").write_text("<html><head><title>The Ninja build system</title></head><body><p>Moved.</p></body></html>")
    report = ingest(settings, [docs])
    assert report.updated == 1 and report.indexed == 2 and not report.duplicates
    assert str(twin) in searched_paths(settings, "ninja build manifest rules edges")


def test_copies_are_indexed_when_detection_is_off(settings, docs):
    text_twin(docs / "ninja-build-manual.html", docs / "ninja-build-manual.txt")
    off = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, near_duplicates=0.0))
    report = ingest(off, [docs])
    assert report.indexed == 6 and not report.duplicates


def test_sketches_estimate_containment_both_ways_even_when_cut():
    rng = random.Random(7)
    words = [rng.choice("abcdefghijklmnopqrstuvwxyz") + str(rng.randrange(500)) for _ in range(40_000)]
    whole, part = sketch([" ".join(words)]), sketch([" ".join(words[:28_000])])
    assert len(whole) == len(part) == 512  # both cut at the smallest values kept
    assert contained(part, whole) > 0.97
    assert 0.6 < contained(whole, part) < 0.8
    unrelated = sketch([" ".join(rng.sample(words, len(words)))])
    assert contained(unrelated, whole) < 0.05
    assert repeats(part, "Manual", whole, "manual ", 0.8) > 0.97
    assert repeats(part, "Manual", whole, "Another page", 0.8) == 0.0
    assert contained(sketch(["too short to tell"]), whole) == 0.0
