"""`rag ask` and `rag chat` as a person uses them: numbered sources with their evidence, a visible
abstention, fragments withheld, the question's language, progress on a terminal, Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from ragcli.answer.answerer import Answerer
from ragcli.answer.prompt import IN_THE_QUESTIONS_LANGUAGE
from ragcli.cli import app
from ragcli.cli.asking import run_interruptibly
from ragcli.ingest import ingest
from ragcli.retrieval.searcher import Searcher
from tests.conftest import fake_environment
from tests.test_answering import QUESTION, ScriptedGenerator


@pytest.fixture
def indexed(settings, docs):
    ingest(settings, [docs])
    return settings


def answer(settings, *replies, question=QUESTION):
    generator = ScriptedGenerator(*replies)
    with Answerer(settings, Searcher.open(settings), generator) as answerer:
        return answerer.ask(question), generator


def passage_text(settings, n, question=QUESTION):
    with Searcher.open(settings) as searcher:
        hits = searcher.search(question, merge_adjacent=False).hits
    words = hits[n - 1].text.split()
    return " ".join(words[:12]).rstrip(".,;:") + "."


def test_sources_are_numbered_in_the_order_they_are_cited_and_carry_their_evidence(indexed):
    third, first = passage_text(indexed, 3), passage_text(indexed, 1)
    result, _ = answer(indexed, f"{third} {first}")
    assert result.text.endswith("[2].") and "[1]" in result.text.split(". ")[0] + "."
    cited = [s for s in result.sources if s.cited]
    assert [s.n for s in result.sources] == list(range(1, len(result.sources) + 1))
    assert [s.n for s in cited] == [1, 2] and all(s.evidence for s in cited)
    assert [c["source"] for c in result.verification["per_sentence"]] == [1, 2]
    assert result.to_json()["sources"][0]["evidence"] == list(cited[0].evidence)


def test_a_sentence_that_stops_at_a_colon_is_a_fragment_and_never_shown(indexed):
    true = passage_text(indexed, 1)
    result, _ = answer(indexed, f"{true} You can use the following command:")
    assert "following command" not in result.text
    assert [c["method"] for c in result.verification["per_sentence"]][-1] == "fragment"


def test_a_sentence_that_points_back_to_a_withheld_one_is_withheld_too(indexed):
    true = passage_text(indexed, 1)
    # "This ..." after an invented sentence would be shown without what "this" is.
    result, _ = answer(indexed, f"{true} Use the --frobnicate-safely option of zlib-tool. This {true[0].lower()}{true[1:]}")
    methods = [c["method"] for c in result.verification["per_sentence"]]
    assert methods[-1] == "dangling" and result.text.count(true.rstrip(".")) == 1
    # After a shown sentence, the same opening is fine.
    second = passage_text(indexed, 2)
    kept, _ = answer(indexed, f"{true} This {second[0].lower()}{second[1:]}")
    assert [c["method"] for c in kept.verification["per_sentence"]] == ["lexical", "lexical"]


def test_a_question_in_another_script_asks_for_an_answer_in_its_language(indexed):
    result, generator = answer(indexed, "답변", question="operator 사용자의 uid는 무엇입니까?")
    assert generator.prompts[0][-1]["content"].endswith(IN_THE_QUESTIONS_LANGUAGE)
    english, generator = answer(indexed, passage_text(indexed, 1))
    assert not generator.prompts[0][-1]["content"].endswith(IN_THE_QUESTIONS_LANGUAGE) and not english.notes


def test_an_abstention_says_why_and_exits_6(tmp_path, docs):
    env = fake_environment(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs)], env=env).exit_code == 0
    plain = runner.invoke(app, ["ask", "How do I push to GitLab?"], env=env)
    assert plain.exit_code == 6 and "The documents do not contain the answer." in plain.stdout
    assert "Why: the documents never mention GitLab." in plain.stdout
    as_json = runner.invoke(app, ["ask", "How do I push to GitLab?", "--json"], env=env)
    assert as_json.exit_code == 6 and json.loads(as_json.stdout)["abstention_reason"] == "the documents never mention GitLab"
    answered = runner.invoke(app, ["ask", "What is the default weight of a glob pattern?"], env=env)
    assert answered.exit_code == 0


def test_chat_echoes_piped_questions_and_refuses_unknown_commands(tmp_path, docs):
    env = {**os.environ, **fake_environment(tmp_path)}
    subprocess.run([sys.executable, "-m", "ragcli", "ingest", str(docs)], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-m", "ragcli", "chat"], env=env, capture_output=True, text=True, timeout=120,
        input="/help\n/frobnicate\nWhat is the default weight of a glob pattern?\n",
    )
    assert result.returncode == 0, result.stderr
    assert "unknown command /frobnicate" in result.stderr and "/reset" in result.stderr
    assert result.stdout.startswith("you> What is the default weight of a glob pattern?\n") and "Sources:" in result.stdout
    assert "frobnicate" not in result.stdout  # a command is never sent to the model as a question


def test_ctrl_c_cancels_the_work_and_is_raised_within_a_moment():
    stop = threading.Event()
    main = threading.main_thread().ident
    threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(lambda: stop.wait(30), stop.set)
    assert stop.is_set() and time.monotonic() - started < 2


def read_pty(command, env, timeout=60.0) -> str:
    """Run ``command`` on a pseudo-terminal, as in a person's terminal, and return what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    shown, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            shown += data
        elif process.poll() is not None:
            break
    process.wait(10)
    os.close(leader)
    return shown.decode("utf-8", "replace")


def test_on_a_terminal_ask_shows_its_stages_and_passages_before_the_answer(tmp_path, docs):
    env = {**os.environ, **fake_environment(tmp_path), "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    subprocess.run([sys.executable, "-m", "ragcli", "ingest", str(docs)], env=env, check=True, capture_output=True)
    shown = read_pty([sys.executable, "-m", "ragcli", "ask", "What is the default weight of a glob pattern?"], env)
    assert "loading the index and the model" in shown and "reading 5 passages: shared-mime-info-spec.pdf" in shown
    assert shown.index("reading 5 passages") < shown.index("Sources:")
    with_no_color = read_pty([sys.executable, "-m", "ragcli", "ask", "What is the default weight of a glob pattern?"],
                             {**env, "NO_COLOR": "1"})
    assert "\x1b[2m" not in with_no_color and "reading 5 passages" not in with_no_color and "Sources:" in with_no_color
