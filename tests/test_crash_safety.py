"""SIGKILL an ingest at chosen points of its work: the index must stay usable and the next run must finish the job."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import SAMPLE_DOCS

# Enough files that an ingest with the hash embedder runs for a few seconds, so kills land mid-run.
FILES = 800


def make_corpus(root, files=FILES):
    root.mkdir()
    words = (SAMPLE_DOCS / "nodejs-intl.md").read_text().split()
    rng = random.Random(7)
    for n in range(files):
        body = " ".join(rng.choice(words) for _ in range(400))
        (root / f"note-{n:03d}.md").write_text(f"# Note {n}\n\nMarker{n} {body}\n")


def rag(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "ragcli", *args], env=env, capture_output=True, text=True, **kwargs)


def catalog_is_consistent(index_dir):
    db = sqlite3.connect(index_dir / "catalog.sqlite3")
    chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    terms = db.execute("SELECT count(*) FROM chunk_terms").fetchone()[0]
    orphans = db.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)").fetchone()[0]
    mismatched = db.execute(
        "SELECT count(*) FROM documents d WHERE chunk_count != (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
    ).fetchone()[0]
    db.close()
    return chunks == terms and orphans == 0 and mismatched == 0, chunks


def committed_anything(index_dir):
    if not (index_dir / "catalog.sqlite3").exists():
        return False
    db = sqlite3.connect(index_dir / "catalog.sqlite3")
    try:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None and \
            db.execute("SELECT 1 FROM meta WHERE key = 'format_version'").fetchone() is not None
    finally:
        db.close()


def environment(tmp_path, **extra):
    return {**os.environ, "RAG_INDEX": str(tmp_path / "index"), "RAG_EMBEDDING_MODEL": "hash",
            "RAG_GENERATION_MODEL": "echo", **extra}


def committed_documents(catalog) -> int:
    """Documents a running writer has committed so far (0 while there is no catalog yet)."""
    if not catalog.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:  # no schema yet
        return 0


def kill_when(args, env, catalog, at_least: int, total: int, timeout: float = 120.0) -> int:
    """Start `rag ARGS`, SIGKILL it once ``catalog`` holds ``at_least`` committed documents (at
    once for 0), and check the kill landed mid-run: the process was still running and had not
    committed all ``total`` documents. Returns the documents committed when it was killed."""
    process = subprocess.Popen([sys.executable, "-m", "ragcli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    committed = 0
    while at_least and process.poll() is None and time.monotonic() < deadline:
        committed = committed_documents(catalog)
        if committed >= at_least:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before the kill"
    committed = committed_documents(catalog)
    assert committed < total, f"the kill landed after all {total} documents were committed"
    return committed


def assert_usable(env, index_dir):
    consistent, chunks = catalog_is_consistent(index_dir)
    assert consistent
    status = rag(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    search = rag(env, "search", "Marker7", "--json")
    assert search.returncode == 0, search.stderr
    check = rag(env, "check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
    return json.loads(status.stdout)


# Where each kill lands, as a share of the corpus committed: 0 is during start-up and the first batch.
KILL_POINTS = (0.0, 0.08, 0.16, 0.25, 0.33, 0.4, 0.5, 0.6, 0.7, 0.8)


@pytest.mark.parametrize("share", KILL_POINTS)
def test_sigkill_during_ingest_leaves_a_usable_index(tmp_path, share):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    env = environment(tmp_path)
    catalog = tmp_path / "index" / "catalog.sqlite3"
    committed = kill_when(["ingest", str(corpus), "--json"], env, catalog, int(share * FILES), FILES)
    assert committed >= int(share * FILES)

    if committed_anything(tmp_path / "index"):
        status = assert_usable(env, tmp_path / "index")
        assert status["documents"] == committed
    else:
        # Killed before the first commit: the previous state, no index, reported as such.
        status = rag(env, "status", "--json")
        assert status.returncode != 0 and "no index" in status.stderr, status.stderr

    finished = rag(env, "ingest", str(corpus), "--json")
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    # The next run keeps what was committed and reads only the rest.
    assert report["removed"] == 0 and (report["indexed"], report["unchanged"], report["updated"]) == (FILES - committed, committed, 0)
    status = assert_usable(env, tmp_path / "index")
    hits = json.loads(rag(env, "search", "Marker7", "--json", "--k", "3").stdout)["hits"]
    assert hits[0]["path"].endswith("note-007.md")
    assert status["documents"] == FILES


@pytest.mark.parametrize("trial", range(4))
def test_sigkill_during_rebuild_keeps_the_old_index_until_the_new_one_is_complete(tmp_path, trial):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, files=400)
    env = environment(tmp_path)
    assert rag(env, "ingest", str(corpus)).returncode == 0
    rebuilt_env = {**env, "RAG_CHUNKING_TOKENS": "80"}
    staging = tmp_path / "index.rebuild" / "catalog.sqlite3"
    kill_when(["ingest", "--rebuild"], rebuilt_env, staging, (0, 60, 150, 300)[trial], 400)

    # Whichever index is live now is complete: the old one with its settings, or the new one.
    live = json.loads(rag(env, "status", "--json").stdout or "{}") or json.loads(rag(rebuilt_env, "status", "--json").stdout)
    assert live["documents"] == 400
    assert_usable(env if live["chunk_tokens"] == 200 else rebuilt_env, tmp_path / "index")

    finished = rag(rebuilt_env, "ingest", "--rebuild", "--json")
    assert finished.returncode == 0, finished.stderr
    status = assert_usable(rebuilt_env, tmp_path / "index")
    assert (status["documents"], status["chunk_tokens"]) == (400, 80)
    assert not (tmp_path / "index.rebuild").exists()


def test_overlapping_runs_serialise_and_leave_a_correct_index(tmp_path):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, files=400)
    env = environment(tmp_path)
    runs = [
        subprocess.Popen([sys.executable, "-m", "ragcli", "ingest", str(corpus), "--json", "--wait", "300"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    # A reader during the writes never sees an error (it may see no index at the very start).
    while any(run.poll() is None for run in runs):
        if (tmp_path / "index" / "catalog.sqlite3").exists():
            search = rag(env, "search", "Marker7", "--json")
            assert search.returncode == 0 or "no index" in search.stderr, search.stderr
    reports = []
    for run in runs:
        out, err = run.communicate()
        assert run.returncode == 0, err
        reports.append(json.loads(out))
    # One run did the work; the other waited for it and found everything unchanged.
    assert sorted((r["indexed"], r["unchanged"]) for r in reports) == [(0, 400), (400, 0)]
    status = assert_usable(env, tmp_path / "index")
    assert status["documents"] == 400
