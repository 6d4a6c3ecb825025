"""Conventions users know from git and ripgrep: -h, -k, -e, usage errors that change nothing,
`rag config`, and the example QA file, through typer's runner with the fakes."""

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from tests.conftest import fake_environment

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path):
    return fake_environment(tmp_path)


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_dash_h_is_help_for_the_app_and_every_command(env):
    assert run(env, "-h").exit_code == 0 and "Commands:" in run(env, "-h").stdout
    for command in (["search"], ["ask"], ["ingest"], ["sources", "remove"], ["config", "show"]):
        result = run(env, *command, "-h")
        assert result.exit_code == 0 and "Usage:" in result.stdout, command


def test_help_shows_readable_metavars_and_defaults(env):
    text = run(env, "search", "-h").stdout
    assert "-k, --top-k, --k N" in text and "retrieval.k, 5" in text
    assert "<int range>" not in text and "{query}" not in text and "[QUERY]" in text
    assert "--wait SECONDS" in run(env, "ingest", "-h").stdout


def test_help_default_of_k_is_the_settings_default():
    from ragcli.cli.options import KOption
    from ragcli.config import RetrievalSettings

    assert f"retrieval.k, {RetrievalSettings().k})" in KOption.help


def test_k_has_a_short_form_and_the_old_spelling_still_works(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0
    for spelling in ("-k", "--top-k", "--k"):
        result = run(env, "search", "NINJA_STATUS", spelling, "2", "--json")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["hits"]) == 2


def test_a_query_that_starts_with_a_dash(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0
    refused = run(env, "search", "--force-with-lease")
    assert refused.exit_code == 2
    assert "rag search -e --force-with-lease" in refused.stderr
    found = run(env, "search", "-e", "--no-such-flag-anywhere", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["query"] == "--no-such-flag-anywhere"
    assert run(env, "search", "--json", "--", "--force-with-lease").exit_code == 0
    twice = run(env, "search", "one", "-e", "two")
    assert twice.exit_code == 2 and "given twice" in twice.stderr
    assert "rag ask -e" in run(env, "ask", "--why").stderr


def test_a_mistyped_option_is_not_told_to_use_dash_e(env):
    result = run(env, "search", "x", "--jsn")
    assert result.exit_code == 2 and "--json" in result.stderr and "-e" not in result.stderr.split("Error:")[1]


@pytest.mark.parametrize("command", [["search", ""], ["search", "   "], ["ask", ""], ["ask", "\t"], ["search"], ["ask"]])
def test_an_empty_query_or_question_is_a_usage_error(env, docs, command):
    assert run(env, "ingest", str(docs)).exit_code == 0
    result = run(env, *command)
    assert result.exit_code == 2, result.output
    assert "empty" in result.stderr or "missing" in result.stderr


def test_a_path_that_does_not_exist_creates_nothing(env, tmp_path, docs):
    index = tmp_path / "index"
    result = run(env, "ingest", str(tmp_path / "no-such-folder"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr and "no-such-folder" in result.stderr
    assert not index.exists()
    # With an index: the typo is refused, nothing is recorded as a failure.
    assert run(env, "ingest", str(docs)).exit_code == 0
    assert run(env, "ingest", str(docs), str(tmp_path / "typo")).exit_code == 2
    status = json.loads(run(env, "status", "--json").stdout)
    assert status["failures"] == [] and status["documents"] == 5


def test_ingest_with_nothing_to_do_leaves_no_index(env, tmp_path):
    result = run(env, "ingest")
    assert result.exit_code == 2 and "nothing to ingest" in result.stderr
    assert not (tmp_path / "index").exists()


def test_rebuild_refuses_while_a_remembered_folder_is_missing(env, docs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(docs / "zlib-faq.pdf", other / "zlib-faq.pdf")
    assert run(env, "ingest", str(docs), str(other)).exit_code == 0
    shutil.rmtree(other)
    result = run(env, "ingest", "--rebuild")
    assert result.exit_code == 1 and "missing" in result.stderr and "rag sources remove" in result.stderr
    assert json.loads(run(env, "status", "--json").stdout)["documents"] == 6


def test_config_show_is_toml_that_says_where_each_setting_came_from(env, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[retrieval]\nk = 9\n[chunking]\ntokens = 150\n")
    result = run({**env, "RAG_RETRIEVAL_K": "7"}, "--config", str(config), "config", "show")
    assert result.exit_code == 0, result.output
    parsed = tomllib.loads(result.stdout)
    assert parsed["retrieval"]["k"] == 7 and parsed["chunking"]["tokens"] == 150
    assert "k = 7  # RAG_RETRIEVAL_K" in result.stdout
    assert f"tokens = 150  # {config}" in result.stdout
    assert "\nrrf_k = 60\n" in result.stdout  # a default says nothing
    data = json.loads(run(env, "--index", str(tmp_path / "elsewhere"), "config", "show", "--json").stdout)
    assert data["origins"]["index.dir"] == "option" and data["settings"]["index"]["dir"] == str(tmp_path / "elsewhere")


def test_config_path_names_the_files_in_use(env, tmp_path):
    result = run(env, "config", "path", "--json")
    assert result.exit_code == 0
    paths = json.loads(result.stdout)
    assert paths["config_file"] is None and paths["index"] == str(tmp_path / "index")
    assert paths["cache"] == str(tmp_path / "cache")
    assert "config file: (none" in run(env, "config", "path").stdout


def test_the_example_qa_file_scores_on_sample_docs(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0
    result = run(env, "eval", str(ROOT / "configs" / "sample-qa.jsonl"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 11 and report["recall@10"] >= 0.8


def test_completion_script_is_offered(env):
    assert "--install-completion" in run(env, "-h").stdout


def test_reading_uses_the_embedder_the_index_records_whatever_the_environment_says(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0  # the hash embedder
    other = {**env, "RAG_EMBEDDING_MODEL": "all-minilm-l6-v2"}
    found = run(other, "search", "NINJA_STATUS", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["hits"][0]["path"].endswith("ninja-build-manual.html")
    refused = run(other, "ingest")
    assert refused.exit_code == 1 and "built with other settings" in refused.stderr


def test_search_shows_a_similarity_a_reader_understands_and_notes_an_absent_identifier(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0
    plain = run(env, "search", "NINJA_STATUS progress")
    assert plain.exit_code == 0 and "(similarity 0." in plain.stdout and "score" not in plain.stdout
    absent = run(env, "search", "-e", "--frobnicate-the-widgets")
    assert "note: 'frobnicate-the-widgets' occurs in no indexed document" in absent.stderr
    data = json.loads(run(env, "search", "NINJA_STATUS", "--json").stdout)
    assert data["notes"] == [] and data["hits"][0]["rank"] == 1 and "score" in data["hits"][0]


def test_hits_wrap_to_the_width_with_a_hanging_indent_and_colour_only_on_request(env, docs):
    from ragcli.cli.rendering import render_hits
    from ragcli.retrieval.searcher import search
    from ragcli.config import load_settings
    from tests.conftest import fake_flags

    assert run(env, "ingest", str(docs)).exit_code == 0
    settings = load_settings(flags=fake_flags(docs.parent), environ={})
    result = search(settings, "NINJA_STATUS progress status line")
    text = render_hits(result, width=60)
    body = [line for line in text.splitlines() if line.startswith("    ")]
    assert body and all(len(line) <= 60 for line in body)
    assert "\x1b[" not in text
    coloured = render_hits(result, colour=True, width=60)
    assert "\x1b[1m[1]\x1b[0m" in coloured and "\x1b[36m" in coloured
