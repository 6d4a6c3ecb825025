"""Cron that tells you: `rag ingest --log FILE` is quiet on success, prints failures for cron's
mail, keeps every line timestamped in a capped log; `schedule --install` refuses a line that
would fail every night."""

import json
import re

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from ragcli.config import load_settings
from ragcli.errors import RagError
from ragcli.schedule import build_schedule, check_runs
from tests.conftest import fake_environment, fake_flags

runner = CliRunner()
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


@pytest.fixture
def env(tmp_path):
    return fake_environment(tmp_path)


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_a_quiet_night_prints_nothing_and_logs_everything(env, docs, tmp_path):
    log = tmp_path / "ingest.log"
    first = run(env, "ingest", str(docs), "--quiet", "--log", str(log))
    assert first.exit_code == 0 and first.stdout == "" and first.stderr == ""
    lines = log.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines)
    assert any("indexed: " in line for line in lines) and "5 indexed (0 updated)" in lines[-1]
    again = run(env, "ingest", "--quiet", "--log", str(log))
    assert again.exit_code == 0 and again.stderr == ""
    assert "5 unchanged" in log.read_text().splitlines()[-1]
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_a_failure_reaches_stderr_once_and_the_log(env, docs, tmp_path):
    log = tmp_path / "ingest.log"
    (docs / "bad.pdf").write_bytes(b"not a pdf at all")
    result = run(env, "ingest", str(docs), "--quiet", "--log", str(log))
    assert result.exit_code == 3
    assert result.stderr.count("bad.pdf") == 1 and "1 failed" in result.stderr
    assert "failed: " in log.read_text() and "bad.pdf" in log.read_text()


def test_a_fatal_error_is_in_the_log_with_a_timestamp(env, docs, tmp_path):
    log = tmp_path / "ingest.log"
    result = run(env, "ingest", str(tmp_path / "gone"), "--log", str(log))
    assert result.exit_code == 2 and "no such file or folder" in result.stderr
    logged = log.read_text().splitlines()
    assert any(STAMP.match(line) and "error: no such file or folder" in line for line in logged)


def test_the_log_is_moved_aside_past_its_cap(env, docs, tmp_path):
    log = tmp_path / "ingest.log"
    log.write_text("x" * 3000)
    result = run({**env, "RAG_INGEST_LOG_MAX_KB": "2"}, "ingest", str(docs), "--log", str(log))
    assert result.exit_code == 0
    assert (tmp_path / "ingest.log.1").read_text() == "x" * 3000
    assert "5 indexed" in log.read_text()


def test_install_refuses_a_line_that_cannot_open_the_index(tmp_path):
    settings = load_settings(flags=fake_flags(tmp_path), environ={})
    plan = build_schedule(settings, config_file=None, environ={})
    with pytest.raises(RagError, match="no index"):
        check_runs(plan, None, {"RAG_EMBEDDING_MODEL": "hash"})


def test_install_refuses_a_line_whose_environment_does_not_match_the_index(env, docs, tmp_path):
    assert run(env, "ingest", str(docs)).exit_code == 0
    settings = load_settings(flags=fake_flags(tmp_path), environ={})
    plan = build_schedule(settings, config_file=None, environ={})
    # The index was built with the hash embedder and RAG_* fakes; cron would run with none of them.
    with pytest.raises(RagError, match="does not match.*embedder"):
        check_runs(plan, None, {"RAG_CACHE_DIR": str(tmp_path / "cache")})
    check_runs(plan, None, {**env})  # the environment it was built with: accepted


def test_the_schedule_command_checks_before_installing(env, tmp_path):
    result = run(env, "schedule", "--install")
    assert result.exit_code == 1 and "not installing the schedule" in result.stderr
    printed = run(env, "schedule", "--json")
    assert printed.exit_code == 0 and "--log" in json.loads(printed.stdout)["line"]


def test_ctrl_c_during_ingest_says_what_was_kept_and_how_to_go_on(env, docs, monkeypatch):
    import ragcli.ingest
    from ragcli.records import EventKind, FileStatus, IngestEvent

    def interrupted(settings, paths, *, on_event, **options):
        on_event(IngestEvent(kind=EventKind.START, total=5))
        for name in ("a.pdf", "b.pdf"):
            on_event(IngestEvent(kind=EventKind.FILE, path=name, status=FileStatus.INDEXED))
        raise KeyboardInterrupt

    monkeypatch.setattr(ragcli.ingest, "ingest", interrupted)
    result = run(env, "ingest", str(docs))
    assert result.exit_code == 130
    assert "the 2 files indexed in this run are saved" in result.stderr and "run the same `rag ingest` again" in result.stderr
