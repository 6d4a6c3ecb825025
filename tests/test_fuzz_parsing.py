"""Fuzzing: hundreds of mutated PDFs, HTML pages and Office and e-book files (DOCX, PPTX, ODT,
EPUB, RTF), generated here from a fixed seed.

Every file must end as a document with text or as a one-line reason; none may crash a
worker silently, hang the run, or stop the files after it from being parsed.
"""

from __future__ import annotations

import random
from pathlib import Path

from ragcli.config import ParsingSettings
from ragcli.ingest import ingest
from ragcli.parsing.pool import ParserPool
from ragcli.retrieval.searcher import search
from tests import office_factory
from tests.pdf_factory import make_pdf

SEED = 20261129

BASE_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Fuzz page</title>
<script>var tracking = "<p>not text</p>";</script><style>p { color: red }</style></head>
<body><nav class="menu"><a href="/">Home</a></nav><main><h1>Heron &amp; egret</h1>
<p>The heron stands still &mdash; then strikes. Caf&eacute; &#x2603; &#1234;</p>
<h2>Table</h2><table><tr><th>Bird</th><th>Length</th></tr><tr><td>heron</td><td>1 m</td></tr></table>
<pre><code>if (x &lt; 3) { return; }</code></pre><ul><li>one<li>two</ul>
<dl><dt>--wings</dt><dd>Spread them.</dd></dl><!-- a comment --><![CDATA[ cdata ]]>
<h3>Deep</h3><div><div><span><b><i>nested text</i></b></span></div></div></main>
<footer>Copyright</footer></body></html>"""

HTML_FRAGMENTS = ["<", ">", "</", "<!--", "-->", "&", "&#", "&#x110000;", "<![CDATA[", "<?xml", "<div>" * 50,
                  "</div>" * 50, "<table><tr><td>", "<pre>", "<h2>", "<title>", "<script>", "\x00", "\udcff", "\u202e"]


def base_pdf() -> bytes:
    return make_pdf([
        ["Heron field guide", "The heron stands still, then strikes.", "Chapter 1"],
        ["Egret notes", "Egrets are white herons.", "Chapter 2"],
    ])


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    operation = rng.choice(["flip", "truncate", "delete", "duplicate", "insert", "zero", "number"])
    if operation == "flip":
        for _ in range(rng.randint(1, 30)):
            buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    elif operation == "truncate":
        del buffer[rng.randrange(1, len(buffer)):]
    elif operation == "delete":
        start = rng.randrange(len(buffer))
        del buffer[start : start + rng.randint(1, 200)]
    elif operation == "duplicate":
        start = rng.randrange(len(buffer))
        piece = buffer[start : start + rng.randint(1, 400)]
        at = rng.randrange(len(buffer))
        buffer[at:at] = piece * rng.randint(1, 20)
    elif operation == "insert":
        at = rng.randrange(len(buffer))
        buffer[at:at] = rng.randbytes(rng.randint(1, 300))
    elif operation == "zero":
        start = rng.randrange(len(buffer))
        buffer[start : start + rng.randint(1, 100)] = bytes(min(100, len(buffer) - start))
    else:  # numbers steer PDF parsing (lengths, offsets, counts): make one absurd
        text = bytes(buffer)
        digits = [i for i, b in enumerate(text) if 48 <= b <= 57]
        if digits:
            at = rng.choice(digits)
            buffer[at : at + 1] = rng.choice([b"99999999999", b"-1", b"0", b"4294967296"])
    return bytes(buffer)


def mutate_html(text: str, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(HTML_FRAGMENTS) + text[at:]
        encoding = rng.choice(["utf-8", "cp1252", "latin-1", "utf-16"])
        return text.encode(encoding, "surrogateescape" if encoding == "utf-8" else "replace")
    return mutate_bytes(text.encode("utf-8"), rng)


def fuzz_files(folder: Path, count: int) -> list[Path]:
    rng = random.Random(SEED)
    pdf = base_pdf()
    paths: list[Path] = []
    for index in range(count):
        path = folder / f"fuzz-{index:03d}.pdf"
        data = pdf
        for _ in range(rng.randint(1, 3)):
            data = mutate_bytes(data, rng)
        path.write_bytes(data)
        paths.append(path)
        path = folder / f"fuzz-{index:03d}.html"
        path.write_bytes(mutate_html(BASE_HTML, rng))
        paths.append(path)
    return paths


XML_FRAGMENTS = [b"<", b">", b"</w:p>", b"<w:p>", b"&", b"&#x110000;", b"<![CDATA[", b"<?xml", b"<a:t>" * 40,
                 b"</a:t>" * 40, b"<text:h>", b'text:outline-level="99999999"', b"\x00", b"\xff\xfe", b"<html>", b"<!--"]


def mutate_package(data: bytes, suffix: str, rng: random.Random) -> bytes:
    """Half the time the bytes of the package; otherwise its main XML part, re-packed, so that
    the format library itself meets broken XML rather than a zip that fails its checksum."""
    if suffix == ".rtf" or rng.random() < 0.4:
        return mutate_bytes(data, rng)
    import io
    import zipfile

    part = office_factory.main_part(suffix)
    xml = bytearray(zipfile.ZipFile(io.BytesIO(data)).read(part))
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(xml))
        operation = rng.random()
        if operation < 0.3:
            xml[at:at] = rng.choice(XML_FRAGMENTS)
        elif operation < 0.5:
            del xml[at : at + rng.randint(1, 40)]
        else:  # text that stays well-formed: odd characters, huge numbers, right-to-left overrides
            texts = [i + 1 for i in range(len(xml) - 1) if xml[i] == ord(">") and xml[i + 1] != ord("<")]
            if texts:
                at = rng.choice(texts)
                xml[at:at] = rng.choice(["\u202e", "\u2603" * 50, "99999999999", "&amp;"]).encode()
    return office_factory.rewrite_part(data, part, bytes(xml))


def fuzz_packages(folder: Path, count: int) -> list[Path]:
    rng = random.Random(SEED + 1)
    bases = {suffix: make(folder / f"base{suffix}").read_bytes() for suffix, make in office_factory.MAKERS.items()}
    for suffix in bases:
        (folder / f"base{suffix}").unlink()
    paths: list[Path] = []
    for index in range(count):
        suffix = rng.choice(sorted(bases))
        path = folder / f"fuzz-{index:03d}{suffix}"
        path.write_bytes(mutate_package(bases[suffix], suffix, rng))
        paths.append(path)
    return paths


def check_outcomes(outcomes) -> int:
    """Each outcome is a storable document with text or a one-line reason; how many parsed."""
    parsed = 0
    for path, outcome in outcomes:
        if outcome.document is not None:
            assert outcome.error == "" and len(outcome.sha256) == 64
            assert any(section.text.strip() for section in outcome.document.sections)
            for section in outcome.document.sections:
                section.text.encode("utf-8")  # storable: no lone surrogates
            parsed += 1
        else:
            assert outcome.error and "\n" not in outcome.error, (path, outcome.error)
            assert "crashed" not in outcome.error and "took longer" not in outcome.error, (path, outcome.error)
    return parsed


def test_hundreds_of_mutated_office_and_ebook_files_each_get_text_or_a_reason(tmp_path):
    paths = fuzz_packages(tmp_path, 300)
    with ParserPool(ParsingSettings(timeout_s=20, workers=2)) as pool:
        outcomes = list(pool.parse_in_order(paths, str))
        assert pool.fallback == ""
    assert [path for path, _ in outcomes] == paths
    parsed = check_outcomes(outcomes)
    assert 60 < parsed < len(paths)
    for suffix in office_factory.MAKERS:  # every kind both survives some mutations and fails on others
        kind = [outcome.document is not None for path, outcome in outcomes if path.suffix == suffix]
        assert any(kind) and not all(kind), suffix


def test_hundreds_of_mutated_files_each_get_text_or_a_reason(tmp_path):
    paths = fuzz_files(tmp_path, 250)  # 500 files
    settings = ParsingSettings(timeout_s=20, workers=2)
    outcomes = []
    with ParserPool(settings) as pool:
        for path, outcome in pool.parse_in_order(paths, str):
            outcomes.append((path, outcome))
        assert pool.fallback == ""
    assert [path for path, _ in outcomes] == paths  # input order, nothing lost
    parsed = check_outcomes(outcomes)
    # The mutations must leave a real mix: many files still readable, many broken.
    assert 100 < parsed < len(paths)


def test_ingest_of_a_fuzzed_folder_keeps_the_good_files(settings, docs):
    paths = fuzz_files(docs, 40) + fuzz_packages(docs, 40)
    report = ingest(settings, [docs])
    failed = {f.path for f in report.failed}
    # A fuzzed file may come out as a copy of another (ragcli.copies): reported, not lost.
    assert report.indexed + len(failed) + len(report.duplicates) == len(paths) + 5
    assert not failed & {str(p) for p in docs.iterdir() if not p.name.startswith("fuzz-")}
    assert all(f.error for f in report.failed)
    hits = search(settings, "EAR99 export control classification", k=3).hits
    assert (hits[0].path, hits[0].page) == (str(docs / "zlib-faq.pdf"), 6)
