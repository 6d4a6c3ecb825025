"""Fast start: `rag --help` and `rag status` import no heavy library; `rag search` skips torch."""

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "onnx", "faiss", "llama_cpp", "tokenizers", "pypdf", "bs4",
         "lxml", "docx", "pptx", "odfdo", "ebooklib", "striprtf", "watchfiles", "mcp", "starlette", "uvicorn", "pydantic")

# Runs the real CLI (main() without its fast exit) in a fresh interpreter, then reports which heavy modules it imported.
PROBE = (
    "import json, sys\n"
    "from ragcli.cli import run\n"
    "sys.argv = ['rag', *json.loads(sys.argv[1])]\n"
    "code = run()\n"
    f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
    "sys.stderr.write('\\nPROBE ' + json.dumps({'code': code, 'heavy': heavy}) + '\\n')\n"
)


def probe(args, env):
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, env=env, timeout=600)
    line = [x for x in result.stderr.splitlines() if x.startswith("PROBE ")][-1]
    return json.loads(line[len("PROBE "):]), result


def base_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_INDEX": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)})
    return env


def test_help_and_status_import_no_heavy_library(tmp_path, docs):
    env = base_env(tmp_path)
    found, result = probe(["--help"], env)
    assert found == {"code": 0, "heavy": []}, result.stderr
    ingested, result = probe(["ingest", str(docs)], {**env, "RAG_EMBEDDING_MODEL": "hash"})
    assert ingested["code"] == 0, result.stderr
    for command in (["status"], ["status", "--json"]):
        found, result = probe(command, {**env, "RAG_EMBEDDING_MODEL": "hash"})
        assert found == {"code": 0, "heavy": []}, result.stderr


def test_status_with_the_default_embedder_imports_no_heavy_library(tmp_path, docs):
    """Even when the settings name the real model, `rag status` does not touch it."""
    env = base_env(tmp_path)
    probe(["ingest", str(docs)], {**env, "RAG_EMBEDDING_MODEL": "hash"})
    found, result = probe(["status"], env)
    assert found == {"code": 0, "heavy": []}, result.stderr


@pytest.mark.slow
def test_search_with_the_onnx_backend_never_imports_torch(tmp_path, docs):
    env = base_env(tmp_path)
    env.pop("RAG_CACHE_DIR")  # the per-user cache (the session's, tests/conftest.py): exported once, as for users
    ingested, result = probe(["ingest", str(docs)], env)
    assert ingested["code"] == 0, result.stderr
    found, result = probe(["search", "How do I list the whole tree?", "--json"], env)
    assert found["code"] == 0, result.stderr
    assert set(found["heavy"]) <= {"onnxruntime", "onnx", "tokenizers", "faiss"}, found
    assert "torch" not in found["heavy"]


def test_the_entry_point_exits_fast_with_the_commands_code_and_all_its_output(tmp_path, docs):
    """main() leaves through os._exit: the exit code and buffered output must still arrive whole."""
    env = {**base_env(tmp_path), "RAG_EMBEDDING_MODEL": "hash"}
    command = [sys.executable, "-m", "ragcli"]
    missing = subprocess.run([*command, "search", "anything"], capture_output=True, text=True, env=env, timeout=600)
    assert missing.returncode == 1 and "no index" in missing.stderr
    assert subprocess.run([*command, "ingest", str(docs)], capture_output=True, env=env, timeout=600).returncode == 0
    found = subprocess.run([*command, "search", "zlib", "--json", "--k", "5"], capture_output=True, text=True, env=env, timeout=600)
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["hits"]) == 5
    wrong = subprocess.run([*command, "search", "zlib", "--bogus"], capture_output=True, text=True, env=env, timeout=600)
    assert wrong.returncode == 2 and "no such option" in wrong.stderr.lower()
    empty = subprocess.run([*command, "search"], capture_output=True, text=True, env=env, timeout=600)
    assert empty.returncode == 2 and "missing the query" in empty.stderr
