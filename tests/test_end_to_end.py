"""The real default models (MiniLM embedder, bundled GGUF generator) on real files, through the CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def rag(env, *args, timeout=900):
    result = subprocess.run(
        [sys.executable, "-m", "ragcli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    return result


def ask_json(env, question, returncode=0):
    result = rag(env, "ask", question, "--json")
    assert result.returncode == returncode, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    from tests.conftest import SAMPLE_DOCS

    base = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_INDEX": str(base / "index"), "HF_HUB_OFFLINE": "1"})
    result = rag(env, "ingest", str(SAMPLE_DOCS), "--json")
    assert result.returncode == 0, result.stderr
    return env, json.loads(result.stdout)


def test_real_ingest_indexes_all_sample_documents(real_index):
    _, report = real_index
    assert report["indexed"] == 5 and report["failed"] == []


@pytest.mark.parametrize(
    "query, name, page",
    [
        ("What is the default weight of a glob pattern?", "shared-mime-info-spec.pdf", 4),
        ("Which extended attribute can store a file's MIME type?", "shared-mime-info-spec.pdf", 14),
        ("What export control classification number does zlib have?", "zlib-faq.pdf", 6),
        ("Which environment variable controls Ninja's progress status line?", "ninja-build-manual.html", None),
        ("What does the dip group stand for in Debian?", "debian-users-and-groups.html", None),
        ("Which library implements the internationalization features of Node.js?", "nodejs-intl.md", None),
    ],
)
def test_real_search_finds_the_right_page(real_index, query, name, page):
    env, _ = real_index
    result = rag(env, "search", query, "--json", "--k", "5")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert any(Path(h["path"]).name == name and h["page"] == page for h in hits), hits


def test_real_ask_answers_with_a_citation_to_the_right_source(real_index):
    env, _ = real_index
    answer = ask_json(env, "Does zlib have an export control classification, and what is it?")
    assert answer["abstained"] is False
    assert "EAR99" in answer["answer"]
    cited = [s for s in answer["sources"] if s["cited"]]
    assert cited, answer["answer"]
    assert any(Path(s["path"]).name == "zlib-faq.pdf" and s["page"] == 6 for s in cited)
    for source in cited:
        assert Path(source["path"]).is_file() and f"[{source['n']}]" in answer["answer"]


def test_real_ask_plain_output_streams_then_lists_sources(real_index):
    env, _ = real_index
    result = rag(env, "ask", "Is zlib thread-safe?")
    assert result.returncode == 0, result.stderr
    answer, sources = result.stdout.split("Sources:")
    assert "thread-safe" in answer and "[1]" in answer
    assert "zlib-faq.pdf, page 3" in sources


def test_real_ask_abstains_on_a_question_the_documents_do_not_cover(real_index):
    env, _ = real_index
    # Exit 6 tells a script the tool abstained without it parsing the JSON.
    answer = ask_json(env, "How do I configure Kubernetes ingress with Traefik?", returncode=6)
    assert answer["abstained"] is True
    assert answer["answer"] == "The documents do not contain the answer."


def test_real_ask_with_the_embedding_verifier_reports_each_sentence(real_index):
    env, _ = real_index
    result = rag(env, "ask", "Does zlib have an export control classification, and what is it?", "--json", "--verifier", "embedding")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    report = answer["verification"]
    assert report["method"] == "embedding" and report["corrected"] is False
    assert len(report["per_sentence"]) == report["sentences"] >= 1
    assert answer["abstained"] is False and "EAR99" in answer["answer"]
    # Each shown sentence is one the verifier supported, cited to the source it found.
    supported = [s for s in report["per_sentence"] if s["supported"]]
    assert supported and report["supported"] == len(supported)
    for sentence in supported:
        assert sentence["method"] in ("lexical", "embedding") and f"[{sentence['source']}]" in answer["answer"]


def test_real_chat_rewrites_a_follow_up_before_retrieval(real_index):
    env, _ = real_index
    result = subprocess.run(
        [sys.executable, "-m", "ragcli", "chat", "--json"], env=env, capture_output=True, text=True, timeout=900,
        input="Does zlib have an export control classification?\nWhat is it?\n",
    )
    assert result.returncode == 0, result.stderr
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["rewrite"] == "none" and second["rewrite"] in ("llm", "simple")
    # The follow-up keeps its subject, and is answered from the same page.
    assert "export control classification" in second["standalone_question"].lower()
    assert not second["abstained"] and "EAR99" in second["answer"]
    assert any(s["cited"] and Path(s["path"]).name == "zlib-faq.pdf" and s["page"] == 6 for s in second["sources"])


def test_real_ask_stops_within_a_moment_on_ctrl_c(real_index):
    env, _ = real_index
    process = subprocess.Popen([sys.executable, "-m", "ragcli", "ask", "Is zlib thread-safe?"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # the model is loaded and reading the passages (llama.cpp, in C)
    assert process.poll() is None, "the answer was done before Ctrl-C: nothing to stop"
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "interrupted" in err
    assert time.monotonic() - sent < 2.0


def test_real_generator_reads_the_shared_prompt_start_once_and_answers_the_same(tmp_path):
    from ragcli.answer.prompt import FIXED_START, SYSTEM_PROMPT
    from ragcli.config import load_settings
    from ragcli.generation import load_generator

    settings = load_settings(environ={"RAG_INDEX": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "cache")})
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": FIXED_START[1] + "[1] zlib is thread safe.\n\nQuestion: Is zlib thread safe?"}]

    def answer(generator):
        return "".join(generator.stream_chat(messages, max_tokens=24, temperature=0.0))

    cold = load_generator(settings)
    plain = answer(cold)
    assert cold.warm(*FIXED_START, settings.cache_path) > 10
    saved = list((settings.cache_path / "models").glob("*.prefix-state"))
    assert len(saved) == 1 and oct(saved[0].stat().st_mode & 0o777) == "0o600"
    assert answer(cold) == plain
    written = saved[0].stat().st_mtime_ns

    warm = load_generator(settings)
    assert warm.warm(*FIXED_START, settings.cache_path) == cold.warm(*FIXED_START, settings.cache_path)
    assert saved[0].stat().st_mtime_ns == written, "the saved start was read again instead of loaded"
    assert answer(warm) == plain

    saved[0].write_bytes(b"not a llama.cpp state")  # damaged: read afresh and saved again
    again = load_generator(settings)
    assert again.warm(*FIXED_START, settings.cache_path) > 10 and answer(again) == plain
    assert saved[0].stat().st_size > 1000


def test_rag_serve_answers_with_the_real_models(real_index):
    """`rag serve` with the default models: the answer over HTTP is the CLI's, cited to its page."""
    from tests.test_serve import Server

    env, _ = real_index
    question = "Does zlib have an export control classification, and what is it?"
    with Server(env) as server:
        status, answer = server.json("POST", "/ask", {"question": question})
        assert status == 200 and not answer["abstained"] and "EAR99" in answer["answer"]
        assert any(s["cited"] and s["path"].endswith("zlib-faq.pdf") and s["page"] == 6 for s in answer["sources"])
        status, found = server.json("POST", "/search", {"query": "zlib export control classification"})
        searched = rag(env, "search", "zlib export control classification", "--json", "--no-server")
        assert status == 200 and found == json.loads(searched.stdout)
        assert server.stop() == 0
