import dataclasses
import os
import shutil
import threading
import time

import pytest

from ragcli.errors import IndexLockedError, IndexStateError
from ragcli.ingest import ingest
from ragcli.retrieval.searcher import search
from ragcli.store.index import Index
from ragcli.store.lock import writer_lock
from ragcli.status import index_status


def indexed_paths(settings):
    index = Index.open_for_reading(settings)
    try:
        return {doc.path for doc in index.catalog.documents.under("/")}
    finally:
        index.close()


def test_ingest_indexes_every_sample_document(settings, docs):
    report = ingest(settings, [docs])
    assert report.indexed == 5 and report.failed == [] and report.chunks > 20
    assert indexed_paths(settings) == {str(p) for p in docs.iterdir()}
    status = index_status(settings)
    assert status["documents"] == 5 and status["chunks"] == report.chunks
    assert status["kinds"] == {"html": 2, "md": 1, "pdf": 2}
    assert status["roots"] == [str(docs)]


def test_search_finds_pdf_page_and_html_file(settings, docs):
    ingest(settings, [docs])
    hits = search(settings, "EAR99 export control classification", k=3).hits
    assert (hits[0].path, hits[0].page) == (str(docs / "zlib-faq.pdf"), 6)
    hits = search(settings, "NINJA_STATUS environment variable progress", k=3).hits
    assert hits[0].path == str(docs / "ninja-build-manual.html") and hits[0].page is None
    assert [h.rank for h in hits] == [1, 2, 3]


def test_a_title_hit_continues_with_the_text_after_it(settings, tmp_path):
    docs = tmp_path / "manual"
    docs.mkdir()
    body = " ".join(f"Note {n}: the credentials live in a plain file that only its owner can read." for n in range(12))
    (docs / "store.md").write_text(f"# NAME\n\nstore - keep credentials on disk\n\n# SYNOPSIS\n\nstore [options]\n\n# DESCRIPTION\n\n{body}\n")
    ingest(settings, [docs])
    bare = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, min_passage_chars=0))
    [title] = search(bare, "keep credentials on disk", k=1).hits
    assert len(title.text) < 200
    [filled] = search(settings, "keep credentials on disk", k=1).hits
    assert settings.retrieval.min_passage_chars == 200
    assert filled.chunk_id == title.chunk_id and filled.text.startswith(title.text)
    assert "Note 0: the credentials live" in filled.text
    # With the text shown by a passage of its own, the title is not continued into it.
    shown = search(settings, "keep credentials on disk", k=5).hits
    assert shown[0].text == title.text and any("Note 0:" in hit.text for hit in shown[1:])


def test_rerun_is_incremental_update_delete_and_rename(settings, docs):
    ingest(settings, [docs])
    again = ingest(settings, [docs])
    assert (again.indexed, again.unchanged, again.removed, again.chunks) == (0, 5, 0, 0)

    md = docs / "nodejs-intl.md"
    md.write_text(md.read_text() + "\n\n## Zebra section\n\nThe quagga flag enables striped output.\n")
    (docs / "debian-users-and-groups.html").unlink()
    os.rename(docs / "zlib-faq.pdf", docs / "renamed-faq.pdf")
    report = ingest(settings, [docs])
    assert (report.indexed, report.updated, report.unchanged, report.removed) == (2, 1, 2, 2)
    assert indexed_paths(settings) == {str(p) for p in docs.iterdir()}
    hit = search(settings, "quagga striped output", k=1).hits[0]
    assert hit.path == str(md) and "quagga" in hit.text
    assert all("debian-users" not in h.path for h in search(settings, "dialup IP group dip", k=10).hits)


def test_touched_but_identical_file_is_not_reparsed(settings, docs):
    ingest(settings, [docs])
    target = docs / "zlib-faq.pdf"
    os.utime(target, (time.time() + 100, time.time() + 100))
    report = ingest(settings, [docs])
    assert report.indexed == 0 and report.unchanged == 5


def test_bad_files_are_reported_and_the_rest_indexed(settings, docs):
    (docs / "broken.pdf").write_bytes(os.urandom(2048))
    (docs / "empty.html").write_bytes(b"")
    (docs / "dangling.md").symlink_to(docs / "missing.md")
    report = ingest(settings, [docs])
    assert report.indexed == 5
    failed = {os.path.basename(f.path): f.error for f in report.failed}
    assert set(failed) == {"broken.pdf", "empty.html", "dangling.md"}
    assert "PDF" in failed["broken.pdf"] and "empty" in failed["empty.html"] and "link" in failed["dangling.md"]
    assert len(index_status(settings)["failures"]) == 3


def test_a_file_that_turns_bad_keeps_its_previous_version(settings, docs):
    ingest(settings, [docs])
    (docs / "zlib-faq.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = ingest(settings, [docs])
    assert [os.path.basename(f.path) for f in report.failed] == ["zlib-faq.pdf"]
    assert search(settings, "EAR99 export control classification", k=1).hits[0].path == str(docs / "zlib-faq.pdf")


def test_a_missing_path_is_refused_before_anything_is_indexed(settings, docs, tmp_path):
    from ragcli.errors import UsageError

    with pytest.raises(UsageError, match="no such file or folder: .*nope"):
        ingest(settings, [docs, tmp_path / "nope"])
    assert not settings.index_path.exists()


def test_a_missing_remembered_folder_is_reported_with_its_documents_kept(settings, docs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("The ocelot protocol uses port 4242.")
    ingest(settings, [docs, other])
    shutil.rmtree(other)
    report = ingest(settings, [])
    assert report.unchanged == 5 and report.removed == 0
    assert "1 documents are kept" in report.failed[0].error and report.failed[0].path == str(other)


def test_no_path_resyncs_remembered_roots(settings, docs):
    ingest(settings, [docs])
    (docs / "extra.txt").write_text("The ocelot protocol uses port 4242.")
    report = ingest(settings, [])
    assert report.indexed == 1 and report.unchanged == 5


def test_identical_text_is_embedded_once(settings, docs, monkeypatch):
    import dataclasses

    from ragcli.embedding.hashing import HashEmbedder

    # Copies indexed as documents of their own (near-duplicate detection off: tests/test_copies.py).
    settings = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, near_duplicates=0.0))

    calls = []
    embedder = HashEmbedder()
    original = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: calls.append(len(texts)) or original(texts))
    (docs / "copy.md").write_bytes((docs / "nodejs-intl.md").read_bytes())
    report = ingest(settings, [docs], embedder=embedder)
    assert report.indexed == 6
    index = Index.open_for_reading(settings)
    unique = index.catalog._db.execute("SELECT count(DISTINCT embed_hash) FROM chunks").fetchone()[0]
    index.close()
    assert sum(calls) == unique < report.chunks


def test_other_embedder_is_refused_with_a_hint(settings, docs):
    import dataclasses

    ingest(settings, [docs])
    other = dataclasses.replace(settings, chunking=dataclasses.replace(settings.chunking, tokens=100))
    with pytest.raises(IndexStateError, match="other settings") as caught:
        ingest(other, [docs])
    assert "--rebuild" in caught.value.hint

    class OtherEmbedder:
        id = "other"

    index = Index.open_for_reading(settings)
    with pytest.raises(IndexStateError, match="embedder"):
        index.check_embedder(OtherEmbedder.id)
    index.close()


def test_second_writer_waits_then_gives_up(settings, docs):
    entered = threading.Event()
    release = threading.Event()

    def hold():
        with writer_lock(settings.index_path, 0):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    try:
        started = time.monotonic()
        with pytest.raises(IndexLockedError, match="another ingest"):
            ingest(settings, [docs], wait_seconds=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        release.set()
        holder.join()
    assert ingest(settings, [docs]).indexed == 5


def test_stale_vector_file_is_rebuilt_not_trusted(settings, docs):
    ingest(settings, [docs])
    (settings.index_path / "vectors.faiss").write_bytes(b"junk")
    assert search(settings, "EAR99 export control classification", k=1).hits[0].page == 6
    (settings.index_path / "vectors.json").unlink()
    assert search(settings, "EAR99 export control classification", k=1).hits[0].page == 6


def test_nested_and_repeated_paths_visit_each_file_once(settings, docs):
    report = ingest(settings, [docs, docs / "zlib-faq.pdf", docs])
    assert report.indexed == 5 and report.unchanged == 0
    (docs / "sub").mkdir()
    (docs / "sub" / "note.txt").write_text("The pangolin setting is off by default.")
    ingest(settings, [docs / "sub"])
    resync = ingest(settings, [])
    assert (resync.indexed, resync.unchanged) == (0, 6)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable directories anyway")
def test_unreadable_folder_keeps_what_was_indexed_under_it(settings, docs):
    sub = docs / "private"
    sub.mkdir()
    (sub / "secret.txt").write_text("The heron protocol is private.")
    ingest(settings, [docs])
    sub.chmod(0)
    try:
        report = ingest(settings, [docs])
    finally:
        sub.chmod(0o755)
    assert report.removed == 0 and "cannot read directory" in report.failed[0].error
    assert str(sub / "secret.txt") in indexed_paths(settings)


def test_walk_errors_protect_documents_from_removal(settings, docs, monkeypatch):
    from ragcli import walking

    ingest(settings, [docs])
    real_walk = os.walk

    def failing_walk(top, onerror=None, followlinks=False):
        onerror(PermissionError(13, "Permission denied", str(top)))
        return iter(())

    monkeypatch.setattr(walking.os, "walk", failing_walk)
    report = ingest(settings, [docs])
    monkeypatch.setattr(walking.os, "walk", real_walk)
    assert report.removed == 0 and report.failed[0].error == "cannot read directory: Permission denied"
    assert len(indexed_paths(settings)) == 5


def test_undecodable_file_name_is_reported_not_fatal(settings, docs):
    name = os.fsdecode(b"caf\xe9.txt")
    (docs / name).write_text("Latin-1 named file about the okapi.")
    report = ingest(settings, [docs])
    assert report.indexed == 5
    assert [f.error for f in report.failed] == ["file name is not valid UTF-8; rename the file to index it"]
    assert report.failed[0].path.endswith("caf\\xe9.txt")


def test_vector_file_of_another_catalog_is_not_trusted(settings, docs, tmp_path):
    import shutil

    ingest(settings, [docs])
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in ("vectors.faiss", "vectors.json"):
        shutil.copy2(settings.index_path / name, saved / name)
    for leftover in settings.index_path.glob("catalog.sqlite3*"):
        leftover.unlink()
    other = tmp_path / "other"
    other.mkdir()
    (other / "zebra.txt").write_text("Zebras have black and white stripes.")
    ingest(settings, [other])
    for name in ("vectors.faiss", "vectors.json"):
        shutil.copy2(saved / name, settings.index_path / name)
    hits = search(settings, "zebras stripes", k=3).hits
    assert [h.path for h in hits] == [str(other / "zebra.txt")]


class CountingEmbedder:
    """The hash fake, counting the texts it is asked to embed."""

    def __init__(self):
        from ragcli.embedding.hashing import HashEmbedder

        self._inner = HashEmbedder()
        self.id, self.dimension, self.max_tokens = self._inner.id, self._inner.dimension, self._inner.max_tokens
        self.embedded = 0

    def count_tokens(self, texts):
        return self._inner.count_tokens(texts)

    def embed(self, texts):
        self.embedded += len(texts)
        return self._inner.embed(texts)


def _parser_revision(settings):
    index = Index.open_for_reading(settings)
    try:
        return index.catalog.get_meta("parser_revision")
    finally:
        index.close()


def _set_parser_revision(settings, value):
    import sqlite3

    db = sqlite3.connect(settings.index_path / "catalog.sqlite3")
    db.execute("UPDATE meta SET value = ? WHERE key = 'parser_revision'", (str(value),))
    db.commit()
    db.close()


def test_an_index_from_older_parsers_re_reads_every_file_once_and_reuses_vectors(settings, docs):
    from ragcli.parsing import PARSER_REVISION

    ingest(settings, [docs])
    assert _parser_revision(settings) == PARSER_REVISION
    _set_parser_revision(settings, PARSER_REVISION - 1)
    embedder, events = CountingEmbedder(), []
    report = ingest(settings, [], embedder=embedder, on_event=events.append)
    # The same bytes read again are not "updated": their content did not change.
    assert (report.indexed, report.updated, report.reread, report.unchanged) == (5, 0, 5, 0)
    assert "parsers changed" in events[0].detail
    assert embedder.embedded == 0  # same text, same vectors: nothing is embedded again
    assert _parser_revision(settings) == PARSER_REVISION
    again = ingest(settings, [])
    assert again.unchanged == 5 and again.updated == 0


def test_a_partial_ingest_leaves_the_index_marked_for_re_reading(settings, docs, tmp_path):
    from ragcli.parsing import PARSER_REVISION

    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("# Note\n\nA second folder.\n")
    ingest(settings, [docs, other])
    _set_parser_revision(settings, PARSER_REVISION - 1)
    ingest(settings, [other])
    assert _parser_revision(settings) == PARSER_REVISION - 1  # docs/ was not read again yet
    report = ingest(settings, [])
    assert report.reread == 6 and report.updated == 0 and _parser_revision(settings) == PARSER_REVISION


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(settings, docs):
    ingest(settings, [docs])
    leftovers = [settings.index_path / ".vectors.4242.0badc0de.tmp.faiss", settings.index_path / ".vectors.4242.0badc0de.tmp.json"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    ingest(settings, [docs])
    assert not any(leftover.exists() for leftover in leftovers)
    assert not [p.name for p in settings.index_path.iterdir() if ".tmp" in p.name]
