"""`rag eval --generate N`: questions made from the index, checked, seeded, resumable."""

import io
import json
import os
import subprocess
import sys

import pytest

from ragcli.errors import RagError
from ragcli.evaluation import evaluate, load_questions
from ragcli.evaluation_generate import check_question, generate_questions, pick_term
from ragcli.ingest import ingest
from ragcli.store.catalog.chunks import StoredChunk
from ragcli.vocabulary import normalise
from tests.conftest import SAMPLE_DOCS, fake_environment


def chunk(text="The store helper keeps credentials in ~/.git-credentials by default, in plain text.", **kw):
    fields = dict(id=1, path="/docs/git-credential-store.html", page=None, title="git-credential-store(1)", headings=("DESCRIPTION",),
                  text=text, kind="html", context="git-credential-store(1) > DESCRIPTION")
    return StoredChunk(**(fields | kw))


@pytest.mark.parametrize(("question", "span", "reason"), [
    ("Where does the store helper keep credentials?", "~/.git-credentials", None),
    ("Where?", "~/.git-credentials", "not a question"),
    ("Where does this passage say credentials go?", "~/.git-credentials", "refers to the passage"),
    ("Where does the store helper keep credentials?", "", "no answer"),
    ("Where does the store helper keep credentials?", "in plain text by default in a file under the home folder", "answer too long"),
    ("Where does the store helper keep credentials?", "in the", "answer too vague"),
    ("Where does the store helper keep credentials?", "~/.netrc", "answer not in passage"),
    ("Does ~/.git-credentials hold the credentials of the store helper?", "~/.git-credentials", "question gives the answer"),
])
def test_each_check_names_why_a_question_is_passed_over(question, span, reason):
    assert check_question(chunk(), question, span) == reason


def test_an_answer_the_title_gives_is_passed_over():
    # "git credential store" is in the passage, and in the title with its dashes read as spaces.
    passage = chunk(text="Use git credential store to keep credentials on disk, for one user.")
    assert check_question(passage, "Which helper keeps credentials on disk for one user?", "git credential store") == "answer is in the title"


def test_a_term_for_an_unanswerable_question_is_a_real_word_of_the_passage_not_of_its_title():
    import random

    terms = {pick_term(chunk(), random.Random(n)) for n in range(20)}
    # An identifier is preferred to a plain long word ("credentials", "default").
    assert terms == {"git-credentials"}
    assert pick_term(chunk(text="Set the colour and thickness of every border line."), random.Random(0)) in ("thickness",)
    assert pick_term(chunk(text="a b c d"), random.Random(0)) is None


def test_a_one_line_question_is_read_with_or_without_its_label():
    from ragcli.evaluation_generate import parse_lone_question

    assert parse_lone_question("Question: Can `--trailer` sign a tag?") == "Can `--trailer` sign a tag?"
    # What the default model replies when asked for one line.
    assert parse_lone_question("How can a user use the LR-box in LaTeX to position text?\n") == "How can a user use the LR-box in LaTeX to position text?"
    assert parse_lone_question("Sure! Here is one:\nHow does X work?") == ""
    assert parse_lone_question("The LR-box positions text.") == ""


def generated(settings, count=8, seed=0, **kw):
    out = io.StringIO()
    report = generate_questions(settings, count, out=out, seed=seed, **kw)
    return report, out.getvalue()


def test_generated_questions_are_in_the_qa_format_with_their_passage_as_gold(settings, tmp_path):
    ingest(settings, [SAMPLE_DOCS])
    report, text = generated(settings, count=8)
    lines = [json.loads(line) for line in text.splitlines()]
    assert report.answerable == 7 and report.unanswerable == 1 and len(lines) == 8
    assert report.attempts >= 8 and report.model == "echo" and report.failures == []
    qa = tmp_path / "qa.jsonl"
    qa.write_text(text)
    questions = load_questions(qa)
    assert [q.answerable for q in questions].count(True) == 7
    for line in lines:
        assert line["corpus"] == "sample_docs" and line["generated"]["seed"] == 0
        if line["kind"] == "unanswerable":
            assert line["gold"] == [] and line["generated"]["term"] in line["question"]
            continue
        (gold,) = line["gold"]
        source = SAMPLE_DOCS / gold["path"]
        assert source.is_file() and not gold["path"].startswith("/")
        assert normalise(line["answer"]) not in normalise(line["question"])
    # The set scores like any QA file: each question's own passage is among its hits.
    scored = evaluate(settings, qa)
    assert scored.questions == 8 and scored.recall[10] > 0.5


def test_a_seed_gives_the_same_file_and_another_seed_another(settings):
    ingest(settings, [SAMPLE_DOCS])
    first, again, other = generated(settings)[1], generated(settings)[1], generated(settings, seed=7)[1]
    assert first == again and first != other
    assert {json.loads(line)["generated"]["seed"] for line in other.splitlines()} == {7}


def test_an_interrupted_run_resumes_to_the_same_file(settings, tmp_path):
    ingest(settings, [SAMPLE_DOCS])
    whole = generated(settings)[1]
    out = tmp_path / "qa.jsonl"
    lines = whole.splitlines()
    out.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # killed while writing the fourth
    progress = []
    with open(out, "a", encoding="utf-8") as target:
        report = generate_questions(settings, 8, out=target, out_path=out, resume=True, on_progress=lambda d, t: progress.append((d, t)))
    kept = [line for line in out.read_text().splitlines() if line != lines[3][:25]]
    assert report.resumed == 3 and progress[-1] == (8, 8)
    assert kept == lines


def test_resuming_with_another_seed_is_refused(settings, tmp_path):
    ingest(settings, [SAMPLE_DOCS])
    out = tmp_path / "qa.jsonl"
    out.write_text(generated(settings, count=3)[1])
    with pytest.raises(RagError, match="seed 0, not 5") as refused:
        generate_questions(settings, 3, out=io.StringIO(), out_path=out, seed=5, resume=True)
    assert "--seed 0" in refused.value.hint


def test_a_generator_failure_on_one_passage_is_recorded_and_the_run_goes_on(settings, monkeypatch):
    from ragcli.errors import ModelError
    from ragcli.generation.echo import EchoGenerator

    ingest(settings, [SAMPLE_DOCS])
    calls = []
    original = EchoGenerator.stream_chat

    def flaky(self, messages, max_tokens, temperature):
        calls.append(1)
        if len(calls) == 2:
            raise ModelError("the model ran out of memory")
        return original(self, messages, max_tokens, temperature)

    monkeypatch.setattr(EchoGenerator, "stream_chat", flaky)
    report, text = generated(settings, count=4)
    assert len(report.failures) == 1 and "ran out of memory" in report.failures[0]
    assert len(text.splitlines()) == 4


def test_an_index_without_passages_to_ask_about_says_so(settings, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "note.txt").write_text("Short note.\n")
    ingest(settings, [folder])
    with pytest.raises(RagError, match="no passage of 300 characters"):
        generated(settings, count=2)


def run_cli(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | fake_environment(tmp_path)
    return subprocess.run([sys.executable, "-m", "ragcli", *args], env=env, capture_output=True, text=True, timeout=300)


def test_the_cli_writes_a_file_that_rag_eval_scores(tmp_path):
    assert run_cli(tmp_path, "ingest", str(SAMPLE_DOCS)).returncode == 0
    qa = tmp_path / "qa.jsonl"
    made = run_cli(tmp_path, "eval", "--generate", "5", "--out", str(qa), "--json")
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["questions"] == 5 and summary["out"] == str(qa) and len(qa.read_text().splitlines()) == 5
    to_stdout = run_cli(tmp_path, "eval", "--generate", "5")
    assert to_stdout.stdout == qa.read_text() and "5 questions written to stdout" in to_stdout.stderr
    scored = run_cli(tmp_path, "eval", str(qa), "--json")
    assert scored.returncode == 0 and json.loads(scored.stdout)["questions"] == 5


@pytest.mark.parametrize(("args", "said"), [
    (["eval"], "needs a QA file"),
    (["eval", "qa.jsonl", "--generate", "3"], "leave out QA.jsonl"),
    (["eval", "--generate", "3", "--answers"], "only makes questions"),
    (["eval", "--generate", "3", "--json"], "Add --out"),
    (["eval", "--generate", "3", "--resume"], "--resume continues"),
    (["eval", "--generate", "0"], "--generate"),
])
def test_the_cli_refuses_what_generate_cannot_do(tmp_path, args, said):
    done = run_cli(tmp_path, *args)
    assert done.returncode == 2 and said in done.stderr


@pytest.mark.slow
def test_the_default_model_writes_questions_that_pass_the_checks(tmp_path):
    from ragcli.store.catalog import Catalog
    from tests.conftest import real_settings

    settings = real_settings(tmp_path)
    ingest(settings, [SAMPLE_DOCS])
    report, text = generated(settings, count=3)
    lines = [json.loads(line) for line in text.splitlines()]
    assert report.failures == [] and report.model.startswith("qwen2.5-coder") and len(lines) == 3
    catalog = Catalog.open(settings.index_path / "catalog.sqlite3", create=False, read_only=True)
    try:
        for line in lines:
            source = catalog.chunks.get([line["generated"]["chunk"]])[line["generated"]["chunk"]]
            assert source.path.endswith("/" + line["gold"][0]["path"]) and source.page == line["gold"][0]["page"]
            assert normalise(line["answer"]) in normalise(source.text) and normalise(line["answer"]) not in normalise(line["question"])
    finally:
        catalog.close()
