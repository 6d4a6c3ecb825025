"""One test per kind of hostile or broken input (issue 4): the good files are indexed, each bad
one is reported with a clear reason (summary, JSON, `rag status`), nothing hangs or crashes,
and nothing already indexed is lost."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from ragcli.ingest import ingest
from ragcli.retrieval.searcher import search
from ragcli.status import index_status
from tests import office_factory as office
from tests.conftest import SAMPLE_DOCS
from tests.pdf_factory import bomb_stream, encrypt_pdf, make_pdf, make_scanned_pdf


def with_parsing(settings, **changes):
    return dataclasses.replace(settings, parsing=dataclasses.replace(settings.parsing, **changes))


def failures(report) -> dict[str, str]:
    return {os.path.basename(f.path): f.error for f in report.failed}


def assert_samples_searchable(settings, docs: Path) -> None:
    hits = search(settings, "EAR99 export control classification", k=3).hits
    assert (hits[0].path, hits[0].page) == (str(docs / "zlib-faq.pdf"), 6)


def test_truncated_and_bit_flipped_pdfs_are_reported_or_salvaged(settings, docs):
    good = (SAMPLE_DOCS / "zlib-faq.pdf").read_bytes()
    (docs / "truncated.pdf").write_bytes(good[:1500])
    flipped = bytearray(good)
    for offset in range(200, len(flipped), 97):
        flipped[offset] ^= 0x5A
    (docs / "flipped.pdf").write_bytes(bytes(flipped))
    report = ingest(settings, [docs])
    # Neither can be salvaged: the truncated file ends inside a stream, the flipped one lost its xref.
    assert report.indexed == 5
    assert failures(report) == {
        "truncated.pdf": "not a readable PDF (damaged or truncated): Stream has ended unexpectedly",
        "flipped.pdf": "not a readable PDF (damaged or truncated): startxref not found",
    }
    assert_samples_searchable(settings, docs)


def test_encrypted_pdfs_open_with_the_empty_password_or_say_encrypted(settings, docs):
    plain = make_pdf([["The lemur daemon listens on port 7713."]])
    (docs / "open.pdf").write_bytes(encrypt_pdf(plain, ""))
    (docs / "locked.pdf").write_bytes(encrypt_pdf(plain, "secret"))
    report = ingest(settings, [docs])
    assert failures(report) == {"locked.pdf": "encrypted PDF needs a password; decrypt it (e.g. qpdf --decrypt) and ingest the copy"}
    assert search(settings, "lemur daemon port", k=1).hits[0].path == str(docs / "open.pdf")


def test_aes_encrypted_pdf_with_empty_password(settings, docs):
    pytest.importorskip("cryptography")
    (docs / "aes.pdf").write_bytes(encrypt_pdf(make_pdf([["The marmot flag is on."]]), "", algorithm="AES-256"))
    report = ingest(settings, [docs])
    assert report.failed == [] and report.indexed == 6


@pytest.mark.parametrize("name", ["noise.pdf", "noise.html", "noise.md", "noise.txt"])
def test_random_bytes_with_a_document_name(settings, docs, name):
    (docs / name).write_bytes(os.urandom(8192))
    report = ingest(settings, [docs])
    assert report.indexed == 5
    reason = failures(report)[name]
    assert "not a PDF" in reason if name.endswith(".pdf") else "binary content" in reason


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"])
def test_empty_files(settings, docs, content):
    for name in ("empty.pdf", "empty.html", "empty.md", "empty.txt"):
        (docs / name).write_bytes(content)
    report = ingest(settings, [docs])
    assert report.indexed == 5 and set(failures(report).values()) == {"file is empty"}


def test_compression_bomb_is_capped(settings, docs):
    # A few hundred KB that would inflate to 100 MB: pypdf stops at its cap and says why.
    (docs / "bomb.pdf").write_bytes(make_pdf([[]], raw_streams=[bomb_stream(100_000_000)]))
    report = ingest(with_parsing(settings, max_memory_mb=1024), [docs])
    assert report.indexed == 5
    assert "compression bomb" in failures(report)["bomb.pdf"]


def test_pages_without_a_text_layer_are_reported(settings, docs):
    (docs / "scan.pdf").write_bytes(make_scanned_pdf("STONE BEARS"))
    (docs / "mixed.pdf").write_bytes(make_pdf([[], ["The pangolin page has text."], []]))
    report = ingest(with_parsing(settings, ocr=False), [docs])
    assert failures(report)["scan.pdf"].startswith("no text found (no text layer on page(s) 1")
    assert [(os.path.basename(w.path), w.error) for w in report.warnings] == [("mixed.pdf", "no text layer on page(s) 1, 3")]
    assert report.to_json()["warnings"][0]["warning"] == "no text layer on page(s) 1, 3"
    assert search(settings, "pangolin page", k=1).hits[0].page == 2


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="OCR is optional: needs the tesseract command")
def test_scanned_pages_are_read_by_ocr_when_tesseract_is_installed(settings, docs):
    (docs / "scan.pdf").write_bytes(make_scanned_pdf("STONE BEARS"))
    report = ingest(settings, [docs])
    assert report.failed == [] and report.indexed == 6
    assert [w.error for w in report.warnings if w.path.endswith("scan.pdf")] == ["1 page(s) read by OCR: 1"]
    hit = search(settings, "stone bears", k=1).hits[0]
    assert (hit.path, hit.page) == (str(docs / "scan.pdf"), 1) and "BEARS" in hit.text


def test_deeply_nested_html_is_parsed_or_reported(settings, docs):
    depth = 200_000
    (docs / "deep.html").write_bytes(("<div>" * depth + "<p>The okapi lives deep.</p>" + "</div>" * depth).encode())
    (docs / "unclosed.html").write_bytes(("<span><b>" * depth + "The quokka is unclosed.").encode())
    report = ingest(settings, [docs])
    assert report.failed == [] and report.indexed == 7
    assert search(settings, "okapi lives deep", k=1).hits[0].path == str(docs / "deep.html")
    assert search(settings, "quokka unclosed", k=1).hits[0].path == str(docs / "unclosed.html")


def test_twenty_megabyte_single_line_html(settings, docs):
    filler = "".join(f"word{i} " for i in range(150)) + "<b>bold</b> "
    line = "<html><body><p>The axolotl regenerates its limbs.</p><p>" + filler * (20_000_000 // len(filler) + 1) + "</p></body></html>"
    assert "\n" not in line and len(line) >= 20_000_000
    (docs / "huge.html").write_text(line)
    report = ingest(with_parsing(settings, timeout_s=300), [docs])
    assert report.indexed == 6 and report.failed == []
    assert search(settings, "axolotl regenerates limbs", k=1).hits[0].path == str(docs / "huge.html")


@pytest.mark.slow
def test_twenty_megabyte_single_line_of_dense_markup(settings, docs):
    # Minified markup: about 500,000 tags on one line (tens of seconds on 2 cores, hence slow).
    row = "<p>The axolotl regenerates its limbs.</p><div class='x'><a href='#'>link</a></div>"
    (docs / "huge.html").write_bytes(("<html><body>" + row * (20_000_000 // len(row)) + "</body></html>").encode())
    report = ingest(with_parsing(settings, timeout_s=600), [docs])
    assert report.indexed == 6 and report.failed == []
    assert search(settings, "axolotl regenerates limbs", k=1).hits[0].path == str(docs / "huge.html")


def test_file_over_the_size_limit(settings, docs):
    (docs / "big.txt").write_bytes(b"word " * 300_000)
    report = ingest(with_parsing(settings, max_file_mb=1.0), [docs])
    assert "over the parsing.max_file_mb limit of 1 MB" in failures(report)["big.txt"]


def test_undecodable_file_names(settings, docs):
    (docs / os.fsdecode(b"bad-\xff\xfe.md")).write_text("The tapir naming test.")
    report = ingest(settings, [docs])
    assert report.indexed == 5
    assert [f.error for f in report.failed] == ["file name is not valid UTF-8; rename the file to index it"]


def test_symlink_loops_and_dangling_links(settings, docs):
    (docs / "loop-a.md").symlink_to(docs / "loop-b.md")
    (docs / "loop-b.md").symlink_to(docs / "loop-a.md")
    (docs / "self.html").symlink_to(docs / "self.html")
    (docs / "dangling.pdf").symlink_to(docs / "nowhere.pdf")
    (docs / "sub").mkdir()
    (docs / "sub" / "up").symlink_to(docs, target_is_directory=True)  # a directory loop: never followed
    started = time.monotonic()
    report = ingest(settings, [docs])
    assert time.monotonic() - started < 60
    assert report.indexed == 5
    assert set(failures(report)) == {"loop-a.md", "loop-b.md", "self.html", "dangling.pdf"}
    assert set(failures(report).values()) == {"broken or looping symbolic link"}


def test_fifos_sockets_and_devices_are_never_opened(settings, docs, tmp_path):
    os.mkfifo(docs / "pipe.pdf")  # opening it for reading would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(docs / "sock.html"))
    try:
        report = ingest(settings, [docs, Path("/dev/null")])
    finally:
        server.close()
    assert report.indexed == 5
    failed = failures(report)
    assert set(failed) == {"pipe.pdf", "sock.html", "null"}
    assert all("not a regular file" in reason for reason in failed.values())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file(settings, docs):
    secret = docs / "secret.md"
    secret.write_text("# Secret\n\nThe ibex key.")
    secret.chmod(0)
    try:
        report = ingest(settings, [docs])
    finally:
        secret.chmod(0o644)
    assert report.indexed == 5 and "Permission denied" in failures(report)["secret.md"]


def test_unreadable_file_simulated_in_process(settings, docs, monkeypatch):
    # Root reads anything, so the permission error is injected; parsing runs in-process to see it.
    from ragcli.parsing import worker

    secret = str(docs / "secret.md")
    (docs / "secret.md").write_text("# Secret\n\nThe ibex key.")
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if os.fspath(path) == secret:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(worker.os, "open", guarded_open)
    report = ingest(with_parsing(settings, isolate=False), [docs])
    assert report.indexed == 5 and failures(report) == {"secret.md": "cannot read file: Permission denied"}


def test_files_that_vanish_mid_run(settings, docs):
    doomed = [docs / f"doomed-{i}.md" for i in range(3)]
    for path in doomed:
        path.write_text(f"# Doomed\n\nThe {path.stem} note.")

    def delete_after_walk(event):
        if event.kind == "start":
            for path in doomed:
                path.unlink()

    report = ingest(settings, [docs], on_event=delete_after_walk)
    assert report.indexed == 5
    failed = failures(report)
    assert set(failed) == {p.name for p in doomed} and all("vanished" in r for r in failed.values())


def test_file_vanishing_between_check_and_parse():
    from ragcli.parsing.worker import handle

    reply = handle({"path": "/nonexistent/ragcli/file.md", "max_bytes": 1 << 20})
    assert reply == {"error": "file vanished before it could be read"}


def test_slow_file_is_stopped_at_its_time_budget_and_the_run_goes_on(settings, tmp_path):
    folder = tmp_path / "slow"
    folder.mkdir()
    # 2,000 pages take pypdf seconds; the small notes take milliseconds.
    pages = [[f"Line {line} of page {page} about the slow loris" for line in range(30)] for page in range(2000)]
    (folder / "slow.pdf").write_bytes(make_pdf(pages))
    for name in ("a.txt", "z.txt"):
        (folder / name).write_text(f"The {name} note about the gecko.")
    started = time.monotonic()
    report = ingest(with_parsing(settings, timeout_s=1.0, workers=1), [folder])
    assert time.monotonic() - started < 60
    assert report.indexed == 2  # the one worker was replaced and parsed the file after the slow one
    assert failures(report) == {"slow.pdf": "parsing took longer than parsing.timeout_s = 1 s; the parser was stopped"}


def test_memory_limit_turns_into_a_reason(settings, docs):
    (docs / "hungry.txt").write_bytes(b"memory " * 40_000_000)  # 280 MB of text in a 256 MB address space
    report = ingest(with_parsing(settings, max_memory_mb=256, max_file_mb=400), [docs])
    assert report.indexed == 5
    assert "memory" in failures(report)["hungry.txt"]


def test_reasons_reach_json_and_status_and_old_versions_survive(settings, docs):
    ingest(settings, [docs])
    (docs / "zlib-faq.pdf").write_bytes(os.urandom(4096))  # a good file turns hostile
    (docs / "extra.html").write_bytes(("<div>" * 1000).encode() + os.urandom(64).replace(b"\x00", b"a"))
    report = ingest(settings, [docs])
    as_json = report.to_json()
    assert {os.path.basename(f["path"]) for f in as_json["failed"]} >= {"zlib-faq.pdf"}
    assert all(f["error"] for f in as_json["failed"])
    status = index_status(settings)
    assert str(docs / "zlib-faq.pdf") in {f["path"] for f in status["failures"]}
    assert_samples_searchable(settings, docs)  # the previous version is kept


def test_a_crashing_parser_is_reported_and_replaced(tmp_path):
    import signal
    import threading

    from ragcli.config import ParsingSettings
    from ragcli.parsing.pool import ParserPool

    slow = tmp_path / "slow.pdf"
    slow.write_bytes(make_pdf([[f"Line {i} about the crash" for i in range(30)] for _ in range(2000)]))
    good = tmp_path / "good.txt"
    good.write_text("The narwhal survives the crash.")
    with ParserPool(ParsingSettings(workers=1, timeout_s=120)) as pool:

        def crash_worker_once_busy():
            for _ in range(600):
                workers = pool._workers
                if workers:
                    time.sleep(0.3)  # it has taken the slow file
                    os.kill(workers[0].process.pid, signal.SIGSEGV)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=crash_worker_once_busy)
        killer.start()
        outcomes = [outcome for _, outcome in pool.parse_in_order([slow, good], str)]
        killer.join()
    assert outcomes[0].error == "the parser crashed on this file (SIGSEGV); the file is left out"
    assert outcomes[1].document is not None and "narwhal" in outcomes[1].document.sections[0].text


def test_parsing_falls_back_in_process_when_no_worker_can_start(settings, docs, monkeypatch):
    from ragcli.parsing import pool

    monkeypatch.setattr(pool.sys, "executable", "/nonexistent/python")
    report = ingest(settings, [docs])
    assert report.indexed == 5 and report.failed == []


# Office and e-book packages (issue 16): each hostile variant of a good file, by name.
HOSTILE = {
    "bomb": (lambda data, suffix: office.bomb(data, suffix, 400_000_000), "possible zip bomb"),
    "huge-part": (lambda data, suffix: office.huge_xml_part(data, suffix, 200), "possible zip bomb"),
    "laughs": (office.with_entities, "declares XML entities (a DTD), which ragcli never expands"),
    "encrypted": (lambda data, suffix: office.encrypted_zip(data), "is an encrypted zip; decrypt it"),
    "password": (lambda data, suffix: office.OLE_HEADER, "is password-protected"),
    "truncated": (lambda data, suffix: data[: len(data) * 2 // 3], "damaged or truncated zip"),
    "not-a-zip": (lambda data, suffix: b"Dear reader, this is a letter saved with the wrong name.\n" * 20, "(no zip signature)"),
}


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".odt", ".epub"])
def test_hostile_packages_are_refused_by_name_and_the_run_keeps_everything_else(tmp_path, settings, docs, suffix):
    good = office.MAKERS[suffix](tmp_path / f"good{suffix}").read_bytes()
    (docs / f"kept{suffix}").write_bytes(good)
    ingest(settings, [docs])
    (docs / f"kept{suffix}").write_bytes(office.encrypted_zip(good))  # a good file turns bad: its old version stays
    secret = tmp_path / "secret.txt"
    secret.write_text("The password of the vault is swordfish.")
    for name, (make, _) in HOSTILE.items():
        (docs / f"{name}{suffix}").write_bytes(make(good, suffix))
    (docs / f"external{suffix}").write_bytes(office.with_entities(good, suffix, external=str(secret)))
    report = ingest(settings, [docs])
    failed = {os.path.basename(f.path): f.error for f in report.failed}
    for name, (_, reason) in HOSTILE.items():
        assert reason in failed.pop(f"{name}{suffix}"), name
    assert "declares XML entities" in failed.pop(f"external{suffix}")
    assert "encrypted zip" in failed.pop(f"kept{suffix}") and failed == {}
    marker = {".docx": "wombat", ".pptx": "lemur", ".odt": "heron", ".epub": "kingfisher"}[suffix]
    assert search(settings, marker, k=1).hits[0].path == str(docs / f"kept{suffix}")
    hits = search(settings, "EAR99 export control classification", k=3).hits
    assert (hits[0].path, hits[0].page) == (str(docs / "zlib-faq.pdf"), 6)
    assert not any("swordfish" in h.text or "lollol" in h.text for h in search(settings, "swordfish vault lol", k=10).hits)


def test_entities_would_never_be_expanded_by_the_libraries_either(tmp_path):
    """Behind the refusal: python-docx reads XML with entities left unresolved, so even a part the
    check let through could not pull in a file."""
    import docx

    secret = tmp_path / "secret.txt"
    secret.write_text("swordfish")
    data = office.with_entities(office.make_docx(tmp_path / "a.docx").read_bytes(), ".docx", external=str(secret))
    (tmp_path / "b.docx").write_bytes(data)
    text = "\n".join(p.text for p in docx.Document(str(tmp_path / "b.docx")).paragraphs)
    assert "wombat" in text and "swordfish" not in text


def test_password_protected_odt_and_drm_epub_say_so(tmp_path):
    from ragcli.errors import DocumentError
    from ragcli.parsing import parse_document

    odt = office.make_odt(tmp_path / "a.odt").read_bytes()
    manifest = b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">' \
               b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">' \
               b'<manifest:encryption-data manifest:checksum-type="SHA1"/></manifest:file-entry></manifest:manifest>'
    with pytest.raises(DocumentError, match="ODT is password-protected"):
        parse_document(office.rewrite_part(odt, "META-INF/manifest.xml", manifest), Path("locked.odt"))
    epub = office.make_epub(tmp_path / "a.epub").read_bytes()

    def encryption(uri: str) -> bytes:
        return (b'<?xml version="1.0"?><encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                b'<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData><CipherReference URI="'
                + uri.encode() + b'"/></CipherData></EncryptedData></encryption>')

    with pytest.raises(DocumentError, match=r"EPUB is encrypted \(DRM\)"):
        parse_document(office.rewrite_part(epub, "META-INF/encryption.xml", encryption("EPUB/c1.xhtml")), Path("drm.epub"))
    # Obfuscated fonts, which stores add to DRM-free books too, are not text: the book reads.
    fonts_only = parse_document(office.rewrite_part(epub, "META-INF/encryption.xml", encryption("EPUB/fonts/a.otf")), Path("f.epub"))
    assert "kingfisher" in fonts_only.sections[0].text
