"""Index upkeep: sources, check and repair, rebuild with new settings, and the cron schedule."""

import dataclasses
import os
import shlex
import subprocess
import sqlite3
import stat
import threading

import numpy as np
import pytest

from ragcli.check import check_index
from ragcli.errors import ConfigError, IndexStateError, RagError
from ragcli.ingest import ingest
from ragcli.rebuild import exchange_directories, rebuild, staging_path
from ragcli.retrieval.searcher import search
from ragcli import schedule as ragcli_schedule
from ragcli.schedule import build_schedule, install_schedule
from ragcli.sources import list_sources, remove_source
from ragcli.status import index_status
from ragcli.store.index import Index


def raw_db(settings):
    db = sqlite3.connect(settings.index_path / "catalog.sqlite3")
    db.execute("PRAGMA foreign_keys=OFF")
    return db


def with_chunk_tokens(settings, tokens):
    return dataclasses.replace(settings, chunking=dataclasses.replace(settings.chunking, tokens=tokens))


# -- sources ----------------------------------------------------------------


def test_sources_lists_roots_with_counts_and_removal_takes_their_documents(settings, docs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("# Notes\n\nThe walrus protocol uses port 4711.\n")
    ingest(settings, [docs])
    ingest(settings, [other])
    listed = {root.path: root for root in list_sources(settings)}
    assert set(listed) == {str(docs), str(other)}
    assert listed[str(docs)].documents == 5 and listed[str(other)].documents == 1
    assert listed[str(other)].chunks >= 1 and listed[str(docs)].exists

    removed = remove_source(settings, other)
    assert (removed.documents, removed.chunks) == (1, listed[str(other)].chunks)
    assert [root.path for root in list_sources(settings)] == [str(docs)]
    assert all("walrus" not in hit.text for hit in search(settings, "walrus protocol port", k=10).hits)
    # The next re-sync (no path) does not bring the removed root back.
    report = ingest(settings, [])
    assert (report.indexed, report.unchanged) == (0, 5)
    assert check_index(settings).ok


def test_removing_an_unknown_source_names_the_known_ones(settings, docs, tmp_path):
    ingest(settings, [docs])
    with pytest.raises(RagError, match=str(docs)):
        remove_source(settings, tmp_path / "never-added")


def test_a_root_whose_folder_is_gone_is_listed_as_missing(settings, docs):
    ingest(settings, [docs])
    docs.rename(docs.with_name("moved-away"))
    (root,) = list_sources(settings)
    assert not root.exists and root.documents == 5


# -- check and repair ---------------------------------------------------------


def test_a_fresh_index_checks_clean(settings, docs):
    ingest(settings, [docs])
    report = check_index(settings)
    assert report.ok and report.problems == [] and report.chunks > 0
    repaired = check_index(settings, repair_damage=True)
    assert repaired.ok and repaired.repaired == []


def test_check_finds_catalog_damage_and_repair_fixes_it(settings, docs):
    ingest(settings, [docs])
    db = raw_db(settings)
    db.execute("DELETE FROM chunk_terms WHERE rowid IN (SELECT id FROM chunks ORDER BY id LIMIT 3)")
    db.execute("UPDATE chunks SET vector = x'00' WHERE id = (SELECT max(id) FROM chunks)")
    lost = db.execute("SELECT id, path FROM documents ORDER BY id LIMIT 1").fetchone()
    db.execute("DELETE FROM documents WHERE id = ?", (lost[0],))
    db.commit()
    db.close()

    found = {finding.code for finding in check_index(settings).problems}
    assert found == {"orphan-chunks", "missing-terms", "bad-vectors"}

    repaired = check_index(settings, repair_damage=True)
    assert repaired.ok, repaired.to_json()
    assert any("full-text" in action for action in repaired.repaired)
    assert check_index(settings).ok
    # Searching works again, and the next ingest restores what the repair had to drop.
    assert search(settings, "EAR99 export control", k=3).hits
    report = ingest(settings, [docs])
    assert report.indexed == 2  # the document whose row was deleted, and the one that lost a damaged chunk
    assert lost[1] in {hit.path for hit in search(settings, "anything at all", k=200).hits}
    assert check_index(settings).ok


def test_check_probes_of_the_vector_file_skip_damaged_vectors(settings, docs, monkeypatch):
    """The vector-file probe samples chunks at random; one with a damaged vector once crashed the check."""
    from ragcli.store import integrity

    ingest(settings, [docs])
    db = raw_db(settings)
    db.execute("UPDATE chunks SET vector = x'00' WHERE id = (SELECT min(id) FROM chunks)")
    nan = np.full(int(db.execute("SELECT length(vector) FROM chunks LIMIT 1").fetchone()[0]) // 4, np.nan, dtype=np.float32)
    db.execute("UPDATE chunks SET vector = ? WHERE id = (SELECT max(id) FROM chunks)", (nan.tobytes(),))
    db.commit()
    db.close()
    monkeypatch.setattr(integrity, "_PROBES", 100_000)  # every chunk is probed
    report = check_index(settings)
    assert {finding.code for finding in report.problems} == {"bad-vectors"}, report.to_json()
    assert check_index(settings, repair_damage=True).ok
    assert check_index(settings).ok


def test_check_catches_a_vector_file_that_lies_about_the_catalog(settings, docs):
    ingest(settings, [docs])
    index = Index.open_for_reading(settings)
    try:
        store = index.vector_store()
        ids, vectors, _ = index.catalog.chunks.all_vectors(int(index.identity["dimension"]))
    finally:
        index.close()
    # Same stamp and count, but every vector belongs to another chunk.
    store.build(ids, vectors[::-1].copy())
    store.save(settings.index_path / "vectors.npz" if settings.index.vectors == "numpy" else settings.index_path / "vectors.faiss")
    assert "vectors-mismatch" in {finding.code for finding in check_index(settings).problems}
    assert check_index(settings, repair_damage=True).ok
    assert check_index(settings).ok


def test_check_reports_a_stale_vector_file_as_a_note(settings, docs):
    ingest(settings, [docs])
    (settings.index_path / "vectors.json").unlink()
    report = check_index(settings)
    assert report.ok and [note.code for note in report.notes] == ["vectors-stale"]
    assert "rebuilt the vector file from the catalog" in check_index(settings, repair_damage=True).repaired


def test_check_reports_a_damaged_catalog_file_and_points_to_rebuild(settings, docs):
    ingest(settings, [docs])
    catalog = settings.index_path / "catalog.sqlite3"
    for leftover in settings.index_path.glob("catalog.sqlite3-*"):
        leftover.unlink()
    catalog.write_bytes(b"this is not a database" * 100)
    report = check_index(settings)
    assert not report.ok and report.problems[0].code == "sqlite"
    assert "--rebuild" in report.problems[0].message


# -- rebuild ----------------------------------------------------------------------


def test_changed_chunking_is_refused_then_rebuilt(settings, docs):
    ingest(settings, [docs])
    before = index_status(settings)["chunks"]
    smaller = with_chunk_tokens(settings, 80)
    with pytest.raises(IndexStateError) as refused:
        ingest(smaller, [])
    assert "--rebuild" in refused.value.hint

    report = rebuild(smaller, [])
    assert report.indexed == 5 and not report.failed
    status = index_status(smaller)
    assert status["chunk_tokens"] == 80 and status["chunks"] > before and status["roots"] == [str(docs)]
    assert not staging_path(settings.index_path).exists()
    assert check_index(smaller).ok
    hits = search(smaller, "EAR99 export control classification", k=3).hits
    assert hits[0].path.endswith("zlib-faq.pdf")
    assert ingest(smaller, []).unchanged == 5


def test_the_live_index_answers_while_a_rebuild_runs(settings, docs):
    ingest(settings, [docs])
    smaller = with_chunk_tokens(settings, 80)
    seen_during: list[int] = []

    def on_event(event):
        if event.kind == "file" and not seen_during:
            # Mid-rebuild: the old index is still complete and searchable with its own settings.
            seen_during.append(index_status(settings)["chunk_tokens"])
            assert search(settings, "EAR99", k=1).hits

    rebuild(smaller, [], on_event=on_event)
    assert seen_during == [200]


def test_an_interrupted_rebuild_resumes_and_the_old_index_is_untouched(settings, docs, monkeypatch):
    ingest(settings, [docs])
    old_chunks = index_status(settings)["chunks"]
    smaller = with_chunk_tokens(settings, 80)
    import ragcli.rebuild as rebuild_module

    def crash(first, second):
        raise KeyboardInterrupt  # stands in for a kill just before the swap

    monkeypatch.setattr(rebuild_module, "exchange_directories", crash)
    with pytest.raises(KeyboardInterrupt):
        rebuild(smaller, [])
    assert index_status(settings)["chunks"] == old_chunks  # the live index is unchanged
    assert staging_path(settings.index_path).exists()

    monkeypatch.setattr(rebuild_module, "exchange_directories", exchange_directories)
    report = rebuild(smaller, [])
    assert (report.indexed, report.unchanged) == (0, 5)  # resumed: nothing parsed twice
    assert index_status(smaller)["chunk_tokens"] == 80


def test_exchange_directories_swaps_contents(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "name").write_text("first")
    (second / "name").write_text("second")
    exchange_directories(first, second)
    assert (first / "name").read_text() == "second" and (second / "name").read_text() == "first"


def test_a_writer_waiting_through_a_rebuild_locks_the_new_index(settings, docs):
    ingest(settings, [docs])
    smaller = with_chunk_tokens(settings, 80)
    started = threading.Event()
    results: dict[str, object] = {}

    def waiting_writer():
        started.wait()
        try:
            results["report"] = ingest(smaller, [], wait_seconds=60)
        except Exception as exc:  # surfaced by the assertion below
            results["error"] = exc

    thread = threading.Thread(target=waiting_writer)
    thread.start()

    def on_event(event):
        started.set()

    rebuild(smaller, [], on_event=on_event)
    thread.join(timeout=60)
    assert "error" not in results, results.get("error")
    assert results["report"].unchanged == 5
    assert check_index(smaller).ok


# -- schedule ---------------------------------------------------------------------


def test_schedule_line_reruns_this_index_with_its_config_and_environment(settings, tmp_path):
    config = tmp_path / "my 100%.toml"
    config.write_text("")
    plan = build_schedule(
        settings, config_file=config, environ={"RAG_EMBEDDING_MODEL": "hash", "HOME": "/root"}, at="02:05"
    )
    assert plan.line.startswith("5 2 * * * umask 077; RAG_EMBEDDING_MODEL=hash ")
    assert "HOME=" not in plan.line
    assert f"--index {settings.index_path} " in plan.line
    # No literal % reaches cron, which would cut the line there: the shell prints it (see the round trip below).
    assert "%" not in plan.line and str(config).split("%")[0] in plan.line
    assert f" ingest --quiet --wait 3600 --log {plan.log} " in plan.line and plan.line.endswith(plan.marker)
    # No redirection: what the run prints (failures, errors) is cron's mail; the rest is in the log.
    assert ">>" not in plan.line and "2>&1" not in plan.line
    assert plan.log == str(settings.index_path.with_name(settings.index_path.name + ".log"))


def test_schedule_times_are_validated(settings):
    assert build_schedule(settings, config_file=None, environ={}, expression="0 */6 * * *").line.startswith("0 */6 * * * ")
    with pytest.raises(ConfigError):
        build_schedule(settings, config_file=None, environ={}, at="25:00")
    with pytest.raises(ConfigError):
        build_schedule(settings, config_file=None, environ={}, expression="every night")


def as_cron_runs(line: str) -> str:
    """What cron hands the shell for a crontab line: the five time fields dropped, the command cut at
    the first unescaped %, a backslash before % removed (cronie's and vixie cron's rule)."""
    command = line.split(None, 5)[5]
    out, escaped = [], False
    for ch in command:
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "%":
            break
        else:
            out.append(ch)
    return "".join(out)


def test_every_path_reaches_the_command_exactly_as_written(settings, tmp_path, monkeypatch):
    odd = tmp_path / "odd \\% 50% it's $(x) `y`"
    odd.mkdir()
    config, log = odd / "c 100%.toml", odd / "log \\%.txt"
    config.write_text("")
    plan = build_schedule(settings, config_file=config, environ={"RAG_NOTE": "a 'b' 10% \\%"}, log=log)
    # The command run under cron: ragcli's launcher swapped for a printer of its arguments.
    launcher = shlex.quote(ragcli_schedule._command_prefix()[0])
    printer = """sh -c 'printf "[%s]\\n" "$RAG_NOTE" "$@"' printer"""
    command = as_cron_runs(plan.line).replace(launcher, printer, 1)
    printed = subprocess.run(["sh", "-c", command], check=True, capture_output=True, text=True).stdout.splitlines()
    assert printed[0] == "[a 'b' 10% \\%]"
    assert f"[{config}]" in printed and printed[-6:] == ["[ingest]", "[--quiet]", "[--wait]", "[3600]", "[--log]", f"[{log}]"]


@pytest.mark.parametrize("where", ["index", "log", "config", "value"])
def test_a_newline_can_never_become_a_crontab_entry(settings, tmp_path, where):
    evil = "x\n* * * * * touch pwned"
    index_settings = dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(tmp_path / evil)))
    arguments = {
        "index": (index_settings, {}, None, None),
        "log": (settings, {}, None, tmp_path / evil),
        "config": (settings, {}, tmp_path / evil, None),
        "value": (settings, {"RAG_RETRIEVAL_K": evil}, None, None),
    }[where]
    chosen, environ, config, log = arguments
    with pytest.raises(ConfigError, match="control character"):
        build_schedule(chosen, config_file=config, environ=environ, log=log)


def test_environment_names_written_to_a_crontab_are_validated(settings):
    with pytest.raises(ConfigError, match="not a plain RAG_"):
        build_schedule(settings, config_file=None, environ={"RAG_X;touch pwned": "1"})


def fake_crontab(tmp_path, monkeypatch, existing: str | None):
    """A `crontab` on PATH that keeps the table in a file, like the real one keeps it per user."""
    table = tmp_path / "crontab.txt"
    if existing is not None:
        table.write_text(existing)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "crontab"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-l" ]; then [ -f "{table}" ] || {{ echo "no crontab for tester" >&2; exit 1; }}; cat "{table}"; '
        f'else cat > "{table}"; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return table


def test_install_adds_the_line_once_and_keeps_other_entries(settings, tmp_path, monkeypatch):
    table = fake_crontab(tmp_path, monkeypatch, existing="0 1 * * * backup.sh\n")
    plan = build_schedule(settings, config_file=None, environ={}, at="03:00")
    install_schedule(plan)
    moved = build_schedule(settings, config_file=None, environ={}, at="04:30")
    install_schedule(moved)
    lines = table.read_text().splitlines()
    assert lines == ["0 1 * * * backup.sh", moved.line]


def test_install_replaces_the_line_an_older_ragcli_wrote(settings, tmp_path, monkeypatch):
    old = f"17 3 * * * rag --index {settings.index_path} ingest >> x.log 2>&1 # ragcli:{settings.index_path}"
    table = fake_crontab(tmp_path, monkeypatch, existing=f"0 1 * * * backup.sh\n{old}\n")
    plan = build_schedule(settings, config_file=None, environ={})
    install_schedule(plan)
    install_schedule(plan)
    assert table.read_text().splitlines() == ["0 1 * * * backup.sh", plan.line]


def test_install_works_without_an_existing_crontab(settings, tmp_path, monkeypatch):
    table = fake_crontab(tmp_path, monkeypatch, existing=None)
    plan = build_schedule(settings, config_file=None, environ={})
    install_schedule(plan)
    assert table.read_text() == plan.line + "\n"


def test_an_index_whose_first_ingest_was_killed_before_committing_reads_as_no_index(settings):
    settings.index_path.mkdir(parents=True)
    # What a kill between creating the file and the first commit leaves: a catalog with no metadata.
    sqlite3.connect(settings.index_path / "catalog.sqlite3").close()
    with pytest.raises(IndexStateError, match="no index"):
        Index.open_for_reading(settings)
