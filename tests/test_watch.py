"""`rag watch` (issue 16): files created, modified, renamed and deleted under a watched folder are
followed by search; bad files and vanished folders do not stop it; it shares the writer lock
with `rag ingest` and cron; SIGTERM and Ctrl-C end it cleanly, with a log like a cron run's."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from ragcli.retrieval.searcher import search
from ragcli.store.lock import writer_lock
from ragcli.watch import WatchEventKind, watch
from tests.conftest import fake_environment

TIMEOUT = 60


def eventually(predicate, timeout: float = TIMEOUT) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def found(settings, query: str) -> set[str]:
    try:
        return {os.path.basename(hit.path) for hit in search(settings, query, k=10).hits if query.split()[0] in hit.text}
    except Exception:  # the index is not there yet
        return set()


class Watching:
    """``watch`` on a thread, with every event it reports."""

    def __init__(self, settings, paths) -> None:
        self.events = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=watch, args=(settings, paths), kwargs={"on_event": self.events.append, "stop": self.stop})

    def __enter__(self) -> "Watching":
        self.thread.start()
        eventually(lambda: any(e.kind is WatchEventKind.WATCHING for e in self.events))
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()

    def synced(self) -> list:
        return [e for e in self.events if e.kind is WatchEventKind.SYNCED]


@contextmanager
def watching_notes(settings, tmp_path, name: str, text: str):
    """A folder holding one note, watched, once the note is searchable: (folder, Watching)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / name).write_text(text)
    with Watching(settings, [folder]) as watching:
        eventually(lambda: found(settings, text.split()[1]) == {name})  # the first re-sync catches up
        eventually(lambda: bool(watching.synced()))  # ... and has returned
        yield folder, watching


@pytest.fixture
def quick(settings):
    return dataclasses.replace(settings, watch=dataclasses.replace(settings.watch, quiet_ms=100, wait_s=30.0))


def test_search_follows_files_created_modified_renamed_and_deleted(quick, tmp_path):
    with watching_notes(quick, tmp_path, "old.md", "The aardvark note was here first.") as (folder, watching):
        (folder / "new.md").write_text("# New\n\nThe bandicoot burrows at night.")
        eventually(lambda: found(quick, "bandicoot") == {"new.md"})
        (folder / "new.md").write_text("# New\n\nThe cassowary replaced the bandicoot story.")
        eventually(lambda: found(quick, "cassowary") == {"new.md"})
        (folder / "new.md").rename(folder / "renamed.md")
        eventually(lambda: found(quick, "cassowary") == {"renamed.md"})
        (folder / "sub").mkdir()
        (folder / "sub" / "deep.txt").write_text("The dugong grazes on seagrass.")
        eventually(lambda: found(quick, "dugong") == {"deep.txt"})
        (folder / "renamed.md").unlink()
        eventually(lambda: found(quick, "cassowary") == set())
        shutil.rmtree(folder / "sub")
        eventually(lambda: found(quick, "dugong") == set())
        assert found(quick, "aardvark") == {"old.md"}
    assert watching.events[-1].kind is WatchEventKind.STOPPED
    assert any(str(folder / "renamed.md") in e.changes for e in watching.synced())


def test_an_edited_ragignore_is_followed(quick, tmp_path):
    with watching_notes(quick, tmp_path, "keep.md", "The echidna note stays.") as (folder, watching):
        (folder / "draft.md").write_text("The fossa draft is not for the index.")
        eventually(lambda: found(quick, "fossa") == {"draft.md"})
        (folder / ".ragignore").write_text("draft.md\n")
        eventually(lambda: found(quick, "fossa") == set())
        (folder / ".ragignore").write_text("# nothing left out\n")
        eventually(lambda: found(quick, "fossa") == {"draft.md"})
        assert found(quick, "echidna") == {"keep.md"}


def test_bad_files_and_a_vanished_folder_do_not_stop_it(quick, tmp_path):
    with watching_notes(quick, tmp_path, "good.md", "The echidna lays eggs.") as (folder, watching):
        (folder / "bad.pdf").write_bytes(os.urandom(4096))
        (folder / "bad.docx").write_bytes(b"not a zip at all")
        eventually(lambda: any({os.path.basename(f.path) for f in e.report.failed} >= {"bad.pdf", "bad.docx"} for e in watching.synced()))
        (folder / "later.md").write_text("The fossa hunts lemurs.")
        eventually(lambda: found(quick, "fossa") == {"later.md"})
        shutil.rmtree(folder)  # an unmounted disk looks like this: the documents are kept
        eventually(lambda: any(e.kind is WatchEventKind.WATCHING and str(folder) in e.missing for e in watching.events))
        assert found(quick, "echidna") == {"good.md"}
        folder.mkdir()  # it comes back, and is watched again
        (folder / "good.md").write_text("The echidna lays eggs.")
        (folder / "back.md").write_text("The gharial returns to the river.")
        eventually(lambda: found(quick, "gharial") == {"back.md"})
        assert found(quick, "echidna") == {"good.md"}


def test_it_waits_for_another_writer_and_never_writes_beside_it(quick, tmp_path):
    with watching_notes(quick, tmp_path, "a.md", "The hoatzin smells of manure.") as (folder, watching):
        before = len(watching.synced())
        with writer_lock(quick.index_path, TIMEOUT):  # as a cron run or `rag ingest` holds it
            (folder / "b.md").write_text("The ibis probes the mud.")
            time.sleep(2.0)
            assert found(quick, "ibis") == set() and len(watching.synced()) == before
        eventually(lambda: found(quick, "ibis") == {"b.md"})


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_command_logs_like_cron_and_stops_cleanly(tmp_path, stop_signal):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("The jacana walks on lily pads.")
    env = {**os.environ, **fake_environment(tmp_path), "RAG_WATCH_QUIET_MS": "100", "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-m", "ragcli", "watch", str(folder)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        settings_env = {key: value for key, value in env.items() if key.startswith("RAG_")}
        from ragcli.config import load_settings

        settings = load_settings(environ=settings_env)
        eventually(lambda: found(settings, "jacana") == {"a.md"})
        (folder / "b.md").write_text("The kakapo cannot fly.")
        eventually(lambda: found(settings, "kakapo") == {"b.md"})
        time.sleep(1.0)  # the re-sync's summary is logged just after its commit; a signal before it cuts it short
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    lines = err.splitlines()
    # Timestamped lines, as in the cron log: what is watched, each re-sync's files and summary, the stop.
    assert all(line[:4].isdigit() and line[4] == "-" for line in lines), lines
    text = "\n".join(lines)
    assert f"watching {folder}" in text and f"indexed: {folder / 'b.md'}" in text
    assert "1 indexed (0 updated), 1 unchanged, 0 removed, 0 failed" in text
    assert lines[-1].endswith(" stopped") and "Traceback" not in err
