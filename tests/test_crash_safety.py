"""SIGKILL an ingest at random moments: the index must stay usable and the next run must finish the job."""

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


def kill_after(args, env, seconds):
    process = subprocess.Popen([sys.executable, "-m", "ragcli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode == -signal.SIGKILL


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


@pytest.mark.parametrize("trial", range(10))
def test_sigkill_during_ingest_leaves_a_usable_index(tmp_path, trial):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    env = environment(tmp_path)
    # Early kills land in start-up and the first batches, late ones in the removal pass and vector file write.
    interrupted = kill_after(["ingest", str(corpus), "--json"], env, random.Random(trial).uniform(0.5, 4.5))

    if committed_anything(tmp_path / "index"):
        assert_usable(env, tmp_path / "index")
    else:
        # Killed before the first commit: the previous state, no index, reported as such.
        status = rag(env, "status", "--json")
        assert status.returncode != 0 and "no index" in status.stderr, status.stderr

    finished = rag(env, "ingest", str(corpus), "--json")
    if interrupted:
        assert json.loads(finished.stdout)["removed"] == 0
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["indexed"] + report["unchanged"] == FILES
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
    kill_after(["ingest", "--rebuild"], rebuilt_env, random.Random(100 + trial).uniform(0.5, 4.0))

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
