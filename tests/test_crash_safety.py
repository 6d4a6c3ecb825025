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


@pytest.mark.parametrize("trial", range(6))
def test_sigkill_during_ingest_leaves_a_usable_index(tmp_path, trial):
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    env = {**os.environ, "RAG_INDEX": str(tmp_path / "index"), "RAG_EMBEDDING_MODEL": "hash", "RAG_GENERATION_MODEL": "echo"}
    process = subprocess.Popen([sys.executable, "-m", "ragcli", "ingest", str(corpus), "--json"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.Random(trial).uniform(0.8, 3.5))
    process.send_signal(signal.SIGKILL)
    process.wait()

    interrupted = process.returncode == -signal.SIGKILL
    if (tmp_path / "index" / "catalog.sqlite3").exists():
        consistent, _ = catalog_is_consistent(tmp_path / "index")
        assert consistent
        status = rag(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        search = rag(env, "search", "Marker7", "--json")
        assert search.returncode == 0, search.stderr

    finished = rag(env, "ingest", str(corpus), "--json")
    if interrupted:
        assert json.loads(finished.stdout)["removed"] == 0
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["indexed"] + report["unchanged"] == FILES
    consistent, chunks = catalog_is_consistent(tmp_path / "index")
    assert consistent
    hits = json.loads(rag(env, "search", "Marker7", "--json", "--k", "3").stdout)["hits"]
    assert hits[0]["path"].endswith("note-007.md")
    status = json.loads(rag(env, "status", "--json").stdout)
    assert status["documents"] == FILES and status["chunks"] == chunks
