"""The CLI through typer's runner, with the fakes selected by environment variables."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from tests.conftest import fake_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path):
    return fake_environment(tmp_path)


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_ingest_json_contract(env, docs):
    result = run(env, "ingest", str(docs), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"indexed", "unchanged", "removed", "failed", "chunks", "seconds"} <= set(data)
    assert data["indexed"] == 5 and data["failed"] == [] and data["chunks"] > 0


def test_ingest_plain_output_logs_files_and_summary(env, docs):
    result = run(env, "ingest", str(docs))
    assert result.exit_code == 0
    assert "indexed: " + str(docs / "zlib-faq.pdf") in result.stderr
    assert "5 indexed (0 updated), 0 unchanged, 0 removed, 0 failed" in result.stderr


def test_ingest_partial_failure_exit_code(env, docs):
    (docs / "bad.pdf").write_bytes(b"not a pdf at all")
    result = run(env, "ingest", str(docs), "--json")
    assert result.exit_code == 3
    failed = json.loads(result.stdout)["failed"]
    assert failed[0]["path"] == str(docs / "bad.pdf") and failed[0]["error"]


def test_search_json_contract(env, docs):
    run(env, "ingest", str(docs))
    result = run(env, "search", "default weight of a glob pattern", "--k", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "default weight of a glob pattern"
    assert len(data["hits"]) == 4
    for rank, hit in enumerate(data["hits"], start=1):
        assert {"rank", "score", "path", "page", "chunk_id", "text"} <= set(hit)
        assert hit["rank"] == rank and hit["path"].startswith("/")
        assert isinstance(hit["score"], float) and isinstance(hit["chunk_id"], int)
    assert any(h["path"].endswith("shared-mime-info-spec.pdf") and h["page"] == 4 for h in data["hits"])


def test_search_plain_output(env, docs):
    run(env, "ingest", str(docs))
    result = run(env, "search", "NINJA_STATUS progress")
    assert result.exit_code == 0
    assert result.stdout.startswith("[1] ") and "ninja-build-manual.html" in result.stdout


def test_ask_json_contract_with_echo_generator(env, docs):
    run(env, "ingest", str(docs))
    result = run(env, "ask", "What does the dip group stand for?", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "What does the dip group stand for?"
    assert isinstance(data["answer"], str) and data["abstained"] is False
    assert "[1]" in data["answer"]
    for n, source in enumerate(data["sources"], start=1):
        assert {"n", "path", "page", "chunk_id", "score", "text"} <= set(source)
        assert source["n"] == n
    assert data["sources"][0]["cited"] is True


def test_ask_plain_output_lists_sources(env, docs):
    run(env, "ingest", str(docs))
    result = run(env, "ask", "Which uid did the operator user have?")
    assert result.exit_code == 0
    assert "Sources:" in result.stdout and "[1] /" in result.stdout


def test_status(env, docs):
    run(env, "ingest", str(docs))
    data = json.loads(run(env, "status", "--json").stdout)
    assert data["documents"] == 5 and data["embedder"] == "hash-v1" and data["last_ingest"]["indexed"] == 5
    plain = run(env, "status")
    assert "documents:  5" in plain.stdout


def test_errors_are_one_clear_message_without_traceback(env, tmp_path):
    result = run(env, "search", "anything")
    assert result.exit_code == 1
    assert "error: no index at" in result.stderr and "hint: Run `rag ingest" in result.stderr
    assert "Traceback" not in result.output


def test_index_flag_overrides_environment(env, docs, tmp_path):
    other = tmp_path / "other-index"
    assert run(env, "--index", str(other), "ingest", str(docs)).exit_code == 0
    assert (other / "catalog.sqlite3").exists()
    assert run(env, "status", "--index", str(other)).exit_code == 0


def test_bad_config_is_a_usage_error(env, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[retrieval]\nk = 0\n")
    result = run(env, "--config", str(config), "status")
    assert result.exit_code == 2 and "retrieval.k" in result.stderr


def test_missing_generator_model_explains_what_to_do(env, docs):
    run(env, "ingest", str(docs))
    result = run(env, "ask", "anything", "--model", "/no/such/model.gguf")
    assert result.exit_code == 1
    assert "neither a bundled model" in result.stderr and "--model" in result.stderr


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("ragcli ")


def test_help_imports_no_heavy_library():
    code = (
        "import sys, ragcli.cli\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(ragcli.cli.app, ['--help'])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'llama_cpp', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_eval_scores_and_writes_score_py_lines(env, docs, tmp_path):
    run(env, "ingest", str(docs))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"id": "a", "question": "NINJA_STATUS progress", "answer": "NINJA_STATUS",
                    "gold": [{"path": "ninja-build-manual.html", "page": None}], "kind": "factoid", "corpus": "docs"}) + "\n"
        + json.dumps({"id": "b", "question": "Sankey diagrams in Excel?", "answer": "UNANSWERABLE",
                      "gold": [], "kind": "unanswerable", "corpus": "none"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = run(env, "eval", str(qa), "--json", "--out", str(out), "--answers")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 2 and report["recall@10"] == 1.0
    assert report["abstention_recall"] == 1.0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert lines[1]["abstained"] is True and isinstance(lines[0]["hits"][0]["path"], str)
    bad = run(env, "eval", str(qa), "--out", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert bad.exit_code == 1 and "cannot write results" in bad.stderr


def test_sources_check_and_rebuild_through_the_cli(env, docs):
    assert run(env, "ingest", str(docs)).exit_code == 0
    listed = json.loads(run(env, "sources", "--json").stdout)["sources"]
    assert [(s["path"], s["documents"]) for s in listed] == [(str(docs), 5)]
    assert f"{docs}  5 documents" in run(env, "sources").stdout

    checked = run(env, "check", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"]

    changed = {**env, "RAG_CHUNKING_TOKENS": "90"}
    refused = run(changed, "ingest")
    assert refused.exit_code == 1 and "--rebuild" in refused.stderr
    rebuilt = run(changed, "ingest", "--rebuild", "--json")
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["indexed"] == 5
    assert json.loads(run(changed, "status", "--json").stdout)["chunk_tokens"] == 90

    removed = run(changed, "sources", "remove", str(docs))
    assert removed.exit_code == 0 and "5 documents" in removed.stdout
    assert json.loads(run(changed, "status", "--json").stdout)["documents"] == 0


def test_check_exit_code_when_problems_remain(env, docs, tmp_path):
    import sqlite3

    assert run(env, "ingest", str(docs)).exit_code == 0
    db = sqlite3.connect(tmp_path / "index" / "catalog.sqlite3")
    db.execute("DELETE FROM chunk_terms WHERE rowid = (SELECT min(id) FROM chunks)")
    db.commit()
    db.close()
    damaged = run(env, "check")
    assert damaged.exit_code == 5 and "no full-text entry" in damaged.stdout and "--repair" in damaged.stdout
    assert run(env, "check", "--repair").exit_code == 0
    assert run(env, "check").exit_code == 0


def test_schedule_prints_a_crontab_line(env):
    result = run(env, "schedule", "--at", "01:45", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["line"].startswith("45 1 * * * ") and "ingest --quiet --wait" in plan["line"] and not plan["installed"]
    assert run(env, "schedule", "--at", "99:99").exit_code == 2


def test_quiet_ingest_still_says_why_an_upgraded_index_reads_every_file_again(env, docs, tmp_path):
    import sqlite3

    assert run(env, "ingest", str(docs), "--quiet").exit_code == 0
    db = sqlite3.connect(tmp_path / "index" / "catalog.sqlite3")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'parser_revision'")
    db.commit()
    db.close()
    result = run(env, "ingest", "--quiet")
    assert result.exit_code == 0
    assert "note: the parsers changed" in result.stderr and "5 indexed (0 updated, 5 read again by newer parsers)" in result.stderr
    quiet_again = run(env, "ingest", "--quiet")
    assert "note:" not in quiet_again.stderr and "5 unchanged" in quiet_again.stderr


def test_option_help_names_every_choice_of_its_registry():
    from ragcli.answer.verify import METHODS
    from ragcli.cli.options import ModelOption, TypeOption, VerifierOption
    from ragcli.generation import BUNDLED
    from ragcli.parsing import DOCUMENT_TYPES

    assert TypeOption.metavar == "|".join(DOCUMENT_TYPES)
    assert all(name in ModelOption.help for name in BUNDLED)
    assert VerifierOption.help.endswith(", ".join(METHODS) + ".")
