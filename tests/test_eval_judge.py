"""`rag eval --answers`: faithfulness figures, the local judge (--judge) and resumable runs."""

import json
import os
import subprocess
import sys

import pytest

from ragcli.errors import ConfigError
from ragcli.evaluation import Question, QuestionResult, evaluate
from ragcli.evaluation_faithfulness import faithfulness
from ragcli.evaluation_judge import Judge
from ragcli.ingest import ingest
from tests.conftest import SAMPLE_DOCS, fake_environment

QA = SAMPLE_DOCS.parent / "configs" / "sample-qa.jsonl"


def question(id, answer="EAR99", gold=({"path": "zlib-faq.pdf", "page": 6},), corpus="a"):
    return Question(id=id, question=f"q {id}?", answer=answer, gold=list(gold), corpus=corpus, answerable=bool(gold))


def test_faithfulness_figures_count_what_was_shown_withheld_and_cited():
    results = [
        # Right page cited, one of three draft sentences withheld.
        QuestionResult(question=question("1"), rank=1, search_ms=1, answer="EAR99 [1]", abstained=False,
                       cited=(("/d/zlib-faq.pdf", 6), ("/d/other.pdf", 2)), draft_sentences=3,
                       shown=(("It is EAR99.", 1, "p"), ("More.", 2, "p2"))),
        # Wrong page cited.
        QuestionResult(question=question("2"), rank=3, search_ms=1, answer="x [1]", abstained=False,
                       cited=(("/d/zlib-faq.pdf", 5),), draft_sentences=1, shown=(("x.", 1, "p"),)),
        # Abstained on an unanswerable question; abstained wrongly on an answerable one.
        QuestionResult(question=question("3", gold=()), rank=None, search_ms=1, answer="no", abstained=True),
        QuestionResult(question=question("4"), rank=2, search_ms=1, answer="no", abstained=True, draft_sentences=2),
    ]
    figures = faithfulness(results)
    assert figures["sentences_shown"] == 3 and figures["sentences_withheld"] == 3 and figures["withheld_share"] == 0.5
    assert figures["citation_precision"] == round(1 / 3, 4) and figures["citation_recall"] == 0.5
    assert figures["abstention_precision"] == 0.5 and figures["abstention_recall"] == 1.0
    assert "judge" not in figures


def test_judge_figures_and_its_agreement_with_the_gold_string_rule():
    def graded(id, answer, label, verdicts):
        return QuestionResult(question=question(id), rank=1, search_ms=1, answer=answer, abstained=False,
                              grade={"label": label, "score": {"correct": 0.9, "partly": 0.5, "wrong": 0.1}[label]},
                              verdicts=tuple({"supported": v} for v in verdicts))

    figures = faithfulness([
        graded("1", "It is EAR99.", "correct", [True]),     # agree
        graded("2", "It is EAR 99.", "correct", [True, False]),  # the string rule misses it
        graded("3", "Not EAR99 at all.", "wrong", [False]),  # the string matches, the judge disagrees
        graded("4", "No idea.", "partly", []),               # agree (not correct, no match)
    ])["judge"]
    assert figures["graded"] == 4 and (figures["correct"], figures["partly"], figures["wrong"]) == (2, 1, 1)
    assert figures["agreement_with_gold_string"] == 0.5
    assert figures["correct_but_string_missed"] == 1 and figures["string_matched_but_not_correct"] == 1
    assert figures["sentences_supported_share"] == 0.5 and figures["mean_credit"] == 0.6


def test_eval_with_answers_reports_faithfulness_overall_and_per_corpus(settings):
    ingest(settings, [SAMPLE_DOCS])
    report = evaluate(settings, QA, with_answers=True).to_json()
    shown = report["faithfulness"]
    assert shown["questions"] == 11 and shown["answered"] + 1 == shown["questions"]
    assert 0 < shown["citation_precision"] <= 1 and shown["abstention_recall"] == 1.0
    assert report["by_corpus"]["sample_docs"]["faithfulness"]["questions"] == 11
    assert report["judge"] is None


def test_judge_grades_answers_and_sentences(settings):
    ingest(settings, [SAMPLE_DOCS])
    report = evaluate(settings, QA, with_answers=True, judge_model="")
    judged = report.to_json()["faithfulness"]["judge"]
    assert report.judge == "echo" and judged["graded"] == sum(1 for r in report.results if r.grade is not None) > 0
    # The fake judge grades by the same rule as the gold string: full agreement, and every shown
    # sentence (the first sentence of a passage) is found in its passage.
    assert judged["agreement_with_gold_string"] == 1.0 and judged["sentences_supported_share"] == 1.0
    assert all(0 <= v["p_supported"] <= 1 for r in report.results for v in r.verdicts)


def test_a_judge_without_token_probabilities_is_refused_with_what_to_use():
    class EndpointLike:
        id = "model@127.0.0.1:8080"

    with pytest.raises(ConfigError, match="cannot report token probabilities") as refused:
        Judge(EndpointLike())
    assert "--judge-model" in refused.value.hint


def test_an_interrupted_run_resumes_where_it_stopped(settings, tmp_path, monkeypatch):
    from ragcli.answer.answerer import Answerer

    ingest(settings, [SAMPLE_DOCS])
    out = tmp_path / "results.jsonl"
    full = evaluate(settings, QA, with_answers=True, judge_model="", out_path=out).to_json()
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:30])  # killed while writing the fifth
    asked = []
    original = Answerer.ask
    monkeypatch.setattr(Answerer, "ask", lambda self, q, *a, **kw: asked.append(q) or original(self, q, *a, **kw))
    progress = []
    resumed = evaluate(settings, QA, with_answers=True, judge_model="", out_path=out, resume=True,
                       on_progress=lambda done, total: progress.append((done, total))).to_json()
    assert len(asked) == len(lines) - 4 and progress[-1] == (11, 11)
    timings = ("search_ms_median", "search_ms_p95")
    assert {k: v for k, v in resumed.items() if k not in timings} == {k: v for k, v in full.items() if k not in timings}
    by_id = {}
    for line in out.read_text().splitlines():
        try:
            by_id[json.loads(line)["id"]] = json.loads(line)
        except ValueError:
            pass
    assert len(by_id) == 11 and all("verdicts" in line for line in by_id.values())


def test_cli_judge_needs_answers_and_resume_needs_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | fake_environment(tmp_path)
    for extra, said in ((["--judge"], "add --answers"), (["--answers", "--resume"], "--out FILE")):
        done = subprocess.run([sys.executable, "-m", "ragcli", "eval", str(QA), *extra], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and said in done.stderr


@pytest.mark.slow
def test_the_real_judge_reads_its_verdict_from_token_probabilities(tmp_path):
    from ragcli.config import load_settings
    from ragcli.evaluation_judge import load_judge

    judge = load_judge(load_settings(flags={"index.dir": str(tmp_path / "index")}))
    passage = "43. Is zlib subject to export controls? What is its ECCN?\nzlib is not subject to export controls, and so is classified as EAR99."
    backed = judge.supports("zlib is classified as EAR99.", passage)
    contradicted = judge.supports("zlib is classified under ECCN 5D002 and needs an export licence.", passage)
    assert 0 <= contradicted < backed <= 1 and backed > 0.5
    right = judge.grade("What is zlib's export classification?", "EAR99", "zlib is classified as EAR99 [1].")
    wrong = judge.grade("What is zlib's export classification?", "EAR99", "zlib is classified as 5D002 [1].")
    assert abs(sum(right.probabilities.values()) - 1) < 1e-6
    assert right.score > wrong.score and right.label == "correct"


def test_the_report_page_shows_faithfulness_and_the_judge(settings, tmp_path):
    from ragcli.evaluation_page import render_page

    ingest(settings, [SAMPLE_DOCS])
    page = render_page(evaluate(settings, QA, with_answers=True, judge_model=""))
    section = page[page.index('<section id="faithfulness">'):]
    assert "citation precision" in section and "judge (echo)" in section and "agrees with the gold-string score" in section
    assert '<section id="faithfulness">' not in render_page(evaluate(settings, QA))


def test_a_model_failure_on_one_question_is_recorded_and_the_run_goes_on(settings, tmp_path, monkeypatch):
    from ragcli.answer.answerer import Answerer
    from ragcli.errors import ModelError

    ingest(settings, [SAMPLE_DOCS])
    out = tmp_path / "results.jsonl"
    original = Answerer.ask
    failing = {"value": True}

    def ask(self, q, *a, **kw):
        if failing["value"] and "ECCN" in q:
            raise ModelError("llama.cpp ran out of memory")
        return original(self, q, *a, **kw)

    monkeypatch.setattr(Answerer, "ask", ask)
    report = evaluate(settings, QA, with_answers=True, out_path=out)
    (failure,) = report.failures
    assert failure["id"] == "sample-03" and "out of memory" in failure["error"] and report.questions == 11
    assert report.results[2].correct is False and json.loads(out.read_text().splitlines()[2])["error"] == failure["error"]
    failing["value"] = False
    resumed = evaluate(settings, QA, with_answers=True, out_path=out, resume=True)
    assert resumed.failures == [] and resumed.results[2].error is None and resumed.results[2].answer
