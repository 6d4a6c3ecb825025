"""How far `rag eval --answers`' shown answers hold to their sources, beside whether they are right.

- sentences shown, and sentences withheld: the draft's checked sentences the verifier did not let
  through (the share a reader never saw);
- citation precision: of the passages answers cite, the share from a gold page; citation recall:
  of the answerable questions answered, the share whose answer cites a gold page;
- abstention precision and recall;
- with --judge: the share of shown sentences the judge finds supported by the passage they cite,
  its grades (correct / partly / wrong, and the mean expected credit), and how often its
  "correct" agrees with the gold-string rule on the same answers, with the disagreements counted
  both ways, so that a reader sees how far to trust it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ragcli.evaluation import QuestionResult


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _holds_gold(path: str, page: int | None, gold: list[dict]) -> bool:
    from ragcli.evaluation import first_gold_rank

    return first_gold_rank([{"path": path, "page": page}], gold, limit=1) == 1


def faithfulness(results: Sequence["QuestionResult"]) -> dict:
    asked = [r for r in results if r.answer is not None]
    answered = [r for r in asked if not r.abstained]
    shown = sum(len(r.shown) for r in answered)
    checked = sum(r.draft_sentences for r in asked)
    withheld = max(0, checked - shown)
    cited = [(r, path, page) for r in answered if r.question.answerable for path, page in r.cited]
    answered_answerable = [r for r in answered if r.question.answerable]
    abstained = [r for r in asked if r.abstained]
    unanswerable = [r for r in asked if not r.question.answerable]
    figures = {
        "questions": len(asked),
        "answered": len(answered),
        "sentences_shown": shown,
        "sentences_withheld": withheld,
        "withheld_share": _share(withheld, checked),
        "citation_precision": _share(sum(1 for r, path, page in cited if _holds_gold(path, page, r.question.gold)), len(cited)),
        "citation_recall": _share(
            sum(1 for r in answered_answerable if any(_holds_gold(path, page, r.question.gold) for path, page in r.cited)),
            len(answered_answerable),
        ),
        "abstention_precision": _share(sum(1 for r in abstained if not r.question.answerable), len(abstained)),
        "abstention_recall": _share(sum(1 for r in unanswerable if r.abstained), len(unanswerable)),
    }
    verdicts = [v for r in answered for v in r.verdicts]
    graded = [r for r in answered_answerable if r.grade is not None]
    if verdicts or graded:
        from ragcli.evaluation import answer_is_correct

        labels = [r.grade["label"] for r in graded]
        by_string = [answer_is_correct(r.question.answer, r.answer or "") for r in graded]
        judge_says = [label == "correct" for label in labels]
        figures["judge"] = {
            "sentences_supported_share": _share(sum(1 for v in verdicts if v["supported"]), len(verdicts)),
            "graded": len(graded),
            "correct": labels.count("correct"), "partly": labels.count("partly"), "wrong": labels.count("wrong"),
            "mean_credit": round(sum(r.grade["score"] for r in graded) / len(graded), 4) if graded else None,
            "agreement_with_gold_string": _share(sum(1 for a, b in zip(judge_says, by_string) if a == b), len(graded)),
            "correct_but_string_missed": sum(1 for a, b in zip(judge_says, by_string) if a and not b),
            "string_matched_but_not_correct": sum(1 for a, b in zip(judge_says, by_string) if b and not a),
        }
    return figures
