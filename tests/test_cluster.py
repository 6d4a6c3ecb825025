"""`rag ingest --ray`: the task body against a local ingest, and a real two-node Ray cluster that
loses a worker mid-run yet leaves the same index as a local ingest of the same files."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_DOCS, fake_environment
from ragcli.chunking import ChunkingPlan, iter_chunks
from ragcli.cluster.work import chunk_from_json, embed_texts, read_files, work_spec
from ragcli.config import load_settings
from ragcli.embedding import load_embedder
from ragcli.parsing import parse_document

RAG = [sys.executable, "-m", "ragcli"]
RAY = Path(sys.executable).with_name("ray")


def _words(seed: int, count: int) -> str:
    rng = random.Random(seed)
    vocabulary = ["archive", "branch", "cluster", "daemon", "editor", "filter", "gateway", "header", "index", "journal",
                  "kernel", "ledger", "module", "network", "option", "packet", "queue", "router", "socket", "ticket"]
    return " ".join(rng.choice(vocabulary) + str(rng.randrange(1000)) for _ in range(count))


def _corpus(folder: Path, extra: int = 24) -> Path:
    """sample_docs (HTML, Markdown, PDF) and ``extra`` Markdown pages of distinct text, and one
    file that cannot be parsed."""
    shutil.copytree(SAMPLE_DOCS, folder)
    (folder / "SOURCES").unlink()
    for number in range(extra):
        sections = "\n\n".join(f"## Part {part}\n\n{_words(number * 10 + part, 120)}" for part in range(3))
        (folder / f"page-{number:02d}.md").write_text(f"# Page {number}\n\n{sections}\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a real PDF")
    return folder


def test_a_task_parses_and_chunks_as_a_local_ingest_does(tmp_path, settings):
    """The task body, called without Ray: the same chunks as local chunking, one vector per chunk
    from the configured embedder, and each failure named per file."""
    folder = _corpus(tmp_path / "docs", extra=2)
    files = [str(path) for path in sorted(folder.iterdir())]
    payload = [(path, Path(path).read_bytes()) for path in files] + [(str(folder / "gone.md"), "file vanished before it could be read")]
    reply = read_files(work_spec(settings), payload)
    embedder = load_embedder(settings)
    assert reply["embedder"] == embedder.id
    by_path = {result["path"]: result for result in reply["files"]}
    assert [result["path"] for result in reply["files"]] == files + [str(folder / "gone.md")]
    assert by_path[str(folder / "gone.md")] == {"path": str(folder / "gone.md"), "error": "file vanished before it could be read"}
    assert "PDF" in by_path[str(folder / "broken.pdf")]["error"]
    plan = ChunkingPlan(max_tokens=min(settings.chunking.tokens, embedder.max_tokens), overlap_tokens=settings.chunking.overlap, window=embedder.max_tokens)
    for path in files:
        if path.endswith("broken.pdf"):
            continue
        document = parse_document(Path(path).read_bytes(), Path(path))
        expected = list(iter_chunks(document.sections, document.title, embedder.count_tokens, plan))
        result = by_path[path]
        assert result["document"]["title"] == document.title
        assert [chunk_from_json(chunk) for chunk in result["chunks"]] == expected
        assert result["vectors"].shape == (len(expected), embedder.dimension)
        assert (result["vectors"] == embedder.embed([chunk.embedding_text for chunk in expected])).all()

    # A file over the slice size comes back without vectors, and its slices embed to the same ones.
    sliced = read_files(work_spec(settings, slice_chunks=2), payload)
    for whole, part in zip(reply["files"], sliced["files"]):
        if "chunks" not in whole:
            assert part == whole
            continue
        assert part["chunks"] == whole["chunks"]
        if len(whole["chunks"]) <= 2:
            assert (part["vectors"] == whole["vectors"]).all()
            continue
        assert part["vectors"] is None
        texts = [chunk_from_json(chunk).embedding_text for chunk in part["chunks"]]
        slices = [embed_texts(work_spec(settings, 2), texts[start:start + 2]) for start in range(0, len(texts), 2)]
        assert {piece["embedder"] for piece in slices} == {embedder.id}
        assert (np.concatenate([piece["vectors"] for piece in slices]) == whole["vectors"]).all()


def test_without_ray_installed_the_option_says_how_to_get_it(tmp_path, monkeypatch):
    """--ray without the extra: a usage error naming the extra, and no index left behind."""
    environment = {**os.environ, **fake_environment(tmp_path), "PYTHONPATH": str(tmp_path / "noray")}
    # A module named ray that fails to import stands for an environment without the extra.
    (tmp_path / "noray").mkdir()
    (tmp_path / "noray" / "ray.py").write_text("raise ImportError('No module named ray')\n")
    done = subprocess.run(RAG + ["ingest", str(SAMPLE_DOCS), "--ray", "auto"], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'ragcli[ray]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cluster_that_cannot_be_joined_is_reported_and_nothing_is_written(tmp_path):
    pytest.importorskip("ray")
    environment = {**os.environ, **fake_environment(tmp_path)}
    port = _free_port()
    done = subprocess.run(RAG + ["ingest", str(SAMPLE_DOCS), "--ray", f"127.0.0.1:{port}"], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "cannot join the Ray cluster" in done.stderr and "ray start --head" in done.stderr
    assert "Traceback" not in done.stderr
    catalog = tmp_path / "index" / "catalog.sqlite3"
    if catalog.exists():
        with sqlite3.connect(catalog) as db:
            assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 0


class _FakeRay(types.ModuleType):
    """Enough of Ray for RayPool: tasks run at once in this process; a task holding a file named
    killer* dies as a worker killed by the kernel would, however often it is run."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            pass

        class WorkerCrashedError(RayError):
            pass

    def __init__(self):
        super().__init__("ray")
        self.started = False
        self.sent: list[list[str]] = []
        self.slices = 0

    def is_initialized(self):
        return self.started

    def init(self, **options):
        self.started = True

    def shutdown(self):
        self.started = False

    def cluster_resources(self):
        return {"CPU": 2.0}

    def nodes(self):
        return [{"Alive": True}]

    def put(self, value):
        return value

    def remote(self, function):
        fake = self

        class Task:
            def options(self, **options):
                return self

            def remote(self, spec, files):
                if function is not read_files:  # embed_texts: a slice of a large file's texts
                    fake.slices += 1
                    return function(spec, files)
                fake.sent.append([path for path, _ in files])
                if any(os.path.basename(path).startswith("killer") for path, _ in files):
                    return fake.exceptions.WorkerCrashedError("The worker died unexpectedly while executing this task.")
                return function(spec, files)

        return Task()

    def get(self, ref):
        if isinstance(ref, Exception):
            raise ref
        return ref


def test_a_file_that_kills_its_worker_every_time_is_reported_alone(tmp_path, settings, monkeypatch):
    """A task that fails after Ray's retries is split: its other files are indexed, the one that
    kills its worker is reported with the reason, and the run goes on."""
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    # Small enough that the sample PDFs are embedded a slice per task, as a large file would be.
    monkeypatch.setattr("ragcli.cluster.pool._SLICE_CHUNKS", 3)
    folder = _corpus(tmp_path / "docs", extra=6)
    (folder / "killer.md").write_text("# Killer\n\nThis page takes its worker down every time.\n")
    from ragcli.ingest import ingest

    clustered = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, ray="auto", ray_files_per_task=4, ray_retries=1))
    report = ingest(clustered, [folder])
    failed = {failure.path: failure.error for failure in report.failed}
    assert set(failed) == {str(folder / "broken.pdf"), str(folder / "killer.md")}
    assert failed[str(folder / "killer.md")].startswith("the Ray worker reading this file died (WorkerCrashedError")
    assert "in each of 2 tries" in failed[str(folder / "killer.md")] and "read again on the next run" in failed[str(folder / "killer.md")]
    killer_task = next(task for task in fake.sent if str(folder / "killer.md") in task)
    assert len(killer_task) > 1 and [[path] for path in killer_task] == fake.sent[-len(killer_task):]
    assert report.cluster["sent_again_alone"] == len(killer_task)
    assert report.indexed == len(list(folder.iterdir())) - 2
    assert not fake.started  # the pool shut down the Ray it started
    assert fake.slices > 0

    local = ingest(dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(tmp_path / "local"))), [folder])
    assert local.indexed == report.indexed + 1  # the killer file is an ordinary page here
    without_killer = {table: [row for row in rows if not row[0].endswith("killer.md")] for table, rows in _index_contents(tmp_path / "local").items()}
    assert without_killer == _index_contents(Path(settings.index.dir))


# --- a real cluster ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cluster_processes(mark: str) -> list[int]:
    """This test's Ray processes: every one inherits the variable its `ray start` was given. (`ray
    stop` would stop every Ray cluster of this user on the machine, another test run's included.)"""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if mark.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture
def two_node_cluster():
    """A Ray head and a second node process on this machine, one CPU each; stopped afterwards.
    Yields the address and the mark its processes carry in their environment."""
    pytest.importorskip("ray")
    # Ray's socket paths must stay short: its own temporary folder, not pytest's deep one.
    temp = tempfile.mkdtemp(prefix="rg", dir="/tmp")
    port = _free_port()
    mark = f"RAGCLI_TEST_CLUSTER={os.path.basename(temp)}"
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", mark.split("=")[0]: mark.split("=")[1]}
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
                       env=environment, check=True, capture_output=True, timeout=180)
        subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", *common], env=environment, check=True, capture_output=True, timeout=180)
        yield f"127.0.0.1:{port}", mark
    finally:
        for pid in _cluster_processes(mark):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


def _kill_first_task_worker(mark: str, stop: threading.Event, killed: list[int]) -> None:
    """Kill -9 the first of this cluster's Ray workers seen running a task (titled ray::read_files)."""
    while not stop.is_set() and not killed:
        for pid in _cluster_processes(mark):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::read_files"):
                os.kill(pid, 9)
                killed.append(pid)
                return
        time.sleep(0.02)


def _index_contents(index: Path) -> dict:
    with sqlite3.connect(index / "catalog.sqlite3") as db:
        documents = db.execute("SELECT path, sha256, kind, title, pages FROM documents ORDER BY path").fetchall()
        chunks = db.execute(
            "SELECT d.path, c.ordinal, c.page, c.headings, c.context, c.text, c.embed_hash FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.path, c.ordinal"
        ).fetchall()
    return {"documents": documents, "chunks": chunks}


def _search(environment: dict, query: str) -> list:
    done = subprocess.run(RAG + ["search", query, "--json", "-k", "5"], env=environment, capture_output=True, text=True, timeout=300, check=True)
    return [(hit["path"], hit["page"], hit["text"]) for hit in json.loads(done.stdout)["hits"]]


@pytest.mark.slow
@pytest.mark.parametrize("retries", [2, 0], ids=["ray-runs-the-task-again", "ragcli-sends-each-file-alone"])
def test_a_two_node_cluster_that_loses_a_worker_builds_the_same_index_as_a_local_ingest(tmp_path, two_node_cluster, retries):
    """With the real default embedder: a local ingest, then the same files through the cluster
    while a worker is killed mid-task. Ray runs the lost task again (retries 2), or, with retries
    off, ragcli sends each of its files again alone; either way the index is the local one."""
    folder = _corpus(tmp_path / "docs")
    base = {**os.environ, "RAG_RERANKING_MODE": "off", "RAG_INGEST_RAY_FILES_PER_TASK": "3", "RAG_INGEST_RAY_RETRIES": str(retries)}
    local = {**base, "RAG_INDEX": str(tmp_path / "local")}
    clustered = {**base, "RAG_INDEX": str(tmp_path / "clustered")}
    done = subprocess.run(RAG + ["ingest", str(folder), "--json"], env=local, capture_output=True, text=True, timeout=900)
    assert done.returncode == 3, done.stderr  # broken.pdf: a partial run
    local_report = json.loads(done.stdout)

    address, mark = two_node_cluster
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_task_worker, args=(mark, stop, killed), daemon=True)
    killer.start()
    try:
        done = subprocess.run(RAG + ["ingest", str(folder), "--json", "--ray", address], env=clustered, capture_output=True, text=True, timeout=900)
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen running a task"
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert [f["path"] for f in report["failed"]] == [str(folder / "broken.pdf")] == [f["path"] for f in local_report["failed"]]
    assert report["failed"][0]["error"] == local_report["failed"][0]["error"]
    assert (report["indexed"], report["chunks"]) == (local_report["indexed"], local_report["chunks"])
    assert len(report["cluster"]["nodes"]) >= 1 and report["cluster"]["cpus"] == 2
    if retries == 0:
        assert report["cluster"]["sent_again_alone"] >= 1

    assert _index_contents(tmp_path / "clustered") == _index_contents(tmp_path / "local")
    for query in ["How do I add a user to a group?", "What does ninja -j do?", "Is zlib patent free?", "packet router socket"]:
        assert _search(clustered, query) == _search(local, query)

    # Unchanged files are never sent again: a second run through the cluster reads nothing.
    done = subprocess.run(RAG + ["ingest", str(folder), "--json", "--ray", address], env=clustered, capture_output=True, text=True, timeout=900)
    again = json.loads(done.stdout)
    assert again["indexed"] == 0 and again["unchanged"] == local_report["indexed"]
    assert again["cluster"]["tasks"] == 1  # broken.pdf, which failed, is tried again
