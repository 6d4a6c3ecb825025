"""`--path` / `--type` on search and ask, the second stage and `rag eval` through the CLI, with the fakes."""

import json

import pytest
from typer.testing import CliRunner

from ragcli.cli import app
from tests.conftest import fake_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path, docs):
    env = fake_environment(tmp_path)
    assert runner.invoke(app, ["ingest", str(docs)], env=env).exit_code == 0
    return env


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_search_type_and_path_filters(env, docs):
    result = run(env, "search", "export control classification", "--type", "pdf", "--k", "6", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 6 and all(h["path"].endswith(".pdf") for h in hits)
    result = run(env, "search", "EAR99", "--path", "*.md", "--path", "debian-*", "--k", "4", "--json")
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 4
    assert {h["path"] for h in hits} <= {str(docs / "nodejs-intl.md"), str(docs / "debian-users-and-groups.html")}
    for hit in hits:
        assert hit["chunk_id"] in hit["chunk_ids"]


def test_unknown_type_is_a_usage_error(env):
    result = run(env, "search", "anything", "--type", "xlsx")
    assert result.exit_code == 2 and "retrieval.types" in result.stderr
    assert "pdf, html, md, docx, pptx, odt, epub, rtf, txt" in result.stderr


def test_nothing_in_scope_says_so(env):
    result = run(env, "search", "anything", "--path", "/nowhere/*")
    assert result.exit_code == 0 and "No passages found." in result.stdout


def test_ask_is_scoped_too(env, docs):
    result = run(env, "ask", "What does the dip group stand for?", "--type", "md", "--json")
    assert result.exit_code == 0, result.output
    assert {s["path"] for s in json.loads(result.stdout)["sources"]} == {str(docs / "nodejs-intl.md")}


def test_second_stage_by_environment(env):
    on = run(env, "search", "EAR99 export control", "--json", "--k", "3")
    fake = run({**env, "RAG_RERANKING_MODE": "on", "RAG_RERANKING_MODEL": "overlap"}, "search", "EAR99 export control", "--json", "--k", "3")
    assert on.exit_code == 0 and fake.exit_code == 0, fake.output
    assert json.loads(fake.stdout)["hits"][0]["path"].endswith("zlib-faq.pdf")
    missing = run({**env, "RAG_RERANKING_MODE": "on", "RAG_RERANKING_MODEL": "/no/such/reranker"}, "search", "x")
    assert missing.exit_code == 1 and "neither a bundled model" in missing.stderr and "hint:" in missing.stderr


def test_eval_prints_the_four_metrics(env, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"id": "a", "question": "NINJA_STATUS progress", "answer": "NINJA_STATUS",
                    "gold": [{"path": "ninja-build-manual.html", "page": None}], "kind": "factoid", "corpus": "docs"}) + "\n"
        + json.dumps({"id": "b", "question": "EAR99 export classification", "answer": "EAR99",
                      "gold": [{"path": "zlib-faq.pdf", "page": 6}], "kind": "factoid", "corpus": "pdfs"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = run(env, "eval", str(qa), "--k", "10", "--out", str(out))
    assert result.exit_code == 0, result.output
    header, overall = result.stdout.splitlines()[:2]
    assert header.split() == ["group", "n", "R@1", "R@5", "R@10", "MRR@10"]
    assert overall.split()[:2] == ["overall", "2"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"] and all(len(line["hits"]) == 10 for line in lines)
    assert set(lines[0]["hits"][0]) == {"path", "page"}
