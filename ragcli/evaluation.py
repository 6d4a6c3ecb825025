"""`rag eval`: run retrieval (and optionally answering) over a QA file and score it.

The QA format and the result lines follow ../shared/eval/devset (qa.jsonl in,
score.py-readable JSONL out). Models are loaded once for the whole file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Iterable

from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.retrieval.searcher import Searcher
from ragcli.vocabulary import normalise

KS = (1, 5, 10)


@dataclass(frozen=True, kw_only=True)
class Question:
    id: str
    question: str
    answer: str
    gold: list[dict]
    corpus: str
    answerable: bool


@dataclass(kw_only=True)
class EvalReport:
    questions: int = 0
    recall: dict[int, float] = field(default_factory=dict)
    mrr10: float = 0.0
    by_corpus: dict[str, dict] = field(default_factory=dict)
    search_ms_median: float = 0.0
    search_ms_p95: float = 0.0
    answer_accuracy: float | None = None
    abstention_precision: float | None = None
    abstention_recall: float | None = None
    # The second stage that ran (its model id), or None when retrieval was single-stage.
    reranker: str | None = None

    def to_json(self) -> dict:
        return {
            "questions": self.questions,
            **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
            "mrr@10": round(self.mrr10, 4),
            "by_corpus": self.by_corpus,
            "search_ms_median": round(self.search_ms_median, 2),
            "search_ms_p95": round(self.search_ms_p95, 2),
            "answer_accuracy": self.answer_accuracy,
            "abstention_precision": self.abstention_precision,
            "abstention_recall": self.abstention_recall,
            "reranker": self.reranker,
        }


def load_questions(path: Path) -> list[Question]:
    questions: list[Question] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagError(f"cannot read QA file {path}: {exc.strerror}", hint="Pass a JSONL file of questions, like configs/sample-qa.jsonl (the format is in the README).") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            questions.append(
                Question(
                    id=str(item["id"]), question=item["question"], answer=str(item.get("answer", "")),
                    gold=list(item.get("gold") or []), corpus=str(item.get("corpus", "")),
                    answerable=item.get("kind") != "unanswerable" and bool(item.get("gold")),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RagError(f"{path}:{number}: not a QA line ({exc})", hint="Each line needs at least \"id\" and \"question\".") from exc
    return questions


def _path_matches(hit_path: str, gold_path: str) -> bool:
    hit, gold = hit_path.replace("\\", "/"), gold_path.replace("\\", "/").lstrip("/")
    return hit == gold or hit.endswith("/" + gold)


def first_gold_rank(hits: list[dict], gold: list[dict], limit: int = 10) -> int | None:
    """Rank of the first hit from a gold (path, page); HTML gold (page null) matches on path alone."""
    for rank, hit in enumerate(hits[:limit], start=1):
        for unit in gold:
            if _path_matches(hit["path"], unit["path"]) and (unit.get("page") is None or hit.get("page") == int(unit["page"])):
                return rank
    return None


def answer_is_correct(gold: str, answer: str) -> bool:
    """The dev set's scoring rule: the gold answer appears in the answer, ignoring case and spacing."""
    return normalise(gold) in normalise(answer)


def _retrieval_scores(rows: list[tuple[Question, int | None]]) -> dict:
    answerable = [(q, rank) for q, rank in rows if q.answerable]
    if not answerable:
        return {"n": 0}
    scores = {"n": len(answerable)}
    for k in KS:
        scores[f"recall@{k}"] = round(sum(1 for _, r in answerable if r is not None and r <= k) / len(answerable), 4)
    scores["mrr@10"] = round(sum(1.0 / r for _, r in answerable if r is not None) / len(answerable), 4)
    return scores


def evaluate(
    settings: Settings,
    qa_path: Path,
    *,
    k: int = 10,
    with_answers: bool = False,
    out_path: Path | None = None,
) -> EvalReport:
    questions = load_questions(qa_path)
    try:
        # Opened first and written per question: a bad path fails now, and a long run keeps its progress.
        out_file = open(out_path, "w", encoding="utf-8") if out_path is not None else None
    except OSError as exc:
        raise RagError(f"cannot write results to {out_path}: {exc.strerror}", hint="Pass an --out path in an existing, writable folder.") from exc
    searcher = Searcher.open(settings)
    reranker_id = searcher.reranker.id if searcher.reranker is not None else None
    answerer = None
    if with_answers:
        from ragcli.answer.answerer import Answerer
        from ragcli.generation import load_generator

        # The same index and models as the retrieval scores.
        answerer = Answerer(settings, searcher, load_generator(settings))
    rows: list[tuple[Question, int | None]] = []
    lines: list[dict] = []
    timings: list[float] = []
    try:
        for question in questions:
            started = time.perf_counter()
            hits = [{"path": h.path, "page": h.page} for h in searcher.search(question.question, k).hits]
            timings.append((time.perf_counter() - started) * 1000)
            line: dict = {"id": question.id, "hits": hits}
            if answerer is not None:
                answer = answerer.ask(question.question)
                line.update(answer=answer.text, abstained=answer.abstained)
            rows.append((question, first_gold_rank(hits, question.gold)))
            lines.append(line)
            if out_file is not None:
                out_file.write(json.dumps(line) + "\n")
                out_file.flush()
    finally:
        searcher.close()
        if out_file is not None:
            out_file.close()
    overall = _retrieval_scores(rows)
    report = EvalReport(
        questions=len(questions),
        recall={kk: overall.get(f"recall@{kk}", 0.0) for kk in KS},
        mrr10=overall.get("mrr@10", 0.0),
        by_corpus={corpus: _retrieval_scores([r for r in rows if r[0].corpus == corpus]) for corpus in sorted({q.corpus for q in questions})},
        search_ms_median=median(timings) if timings else 0.0,
        search_ms_p95=sorted(timings)[int(0.95 * (len(timings) - 1))] if timings else 0.0,
        reranker=reranker_id,
    )
    if with_answers:
        _score_answers(report, questions, lines)
    return report


def _score_answers(report: EvalReport, questions: Iterable[Question], lines: list[dict]) -> None:
    by_id = {line["id"]: line for line in lines}
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    correct = sum(1 for q in answerable if not by_id[q.id]["abstained"] and answer_is_correct(q.answer, by_id[q.id]["answer"]))
    abstained = [q for q in questions if by_id[q.id]["abstained"]]
    report.answer_accuracy = round(correct / len(answerable), 4) if answerable else None
    report.abstention_precision = round(sum(1 for q in abstained if not q.answerable) / len(abstained), 4) if abstained else None
    report.abstention_recall = round(sum(1 for q in unanswerable if by_id[q.id]["abstained"]) / len(unanswerable), 4) if unanswerable else None
