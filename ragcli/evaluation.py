"""`rag eval`: run retrieval (and optionally answering) over a QA file and score it.

The QA format and the result lines follow ../shared/eval/devset (qa.jsonl in,
score.py-readable JSONL out). Models are loaded once for the whole file.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
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


@dataclass(frozen=True, kw_only=True)
class QuestionResult:
    """One question's outcome: the rank of its first gold passage among the ``k`` retrieved (None:
    not found, or no gold), how long its search took, and with --answers the answer."""

    question: Question
    rank: int | None
    search_ms: float
    answer: str | None = None
    abstained: bool | None = None

    @property
    def correct(self) -> bool | None:
        """Answered right: the gold answer given for an answerable question, an abstention for an
        unanswerable one; None without --answers."""
        if self.answer is None:
            return None
        if not self.question.answerable:
            return bool(self.abstained)
        return not self.abstained and answer_is_correct(self.question.answer, self.answer)


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
    # What the run was, for a report page: passages retrieved per question, the embedder, the
    # index and QA file, when it ran (UTC, ISO 8601), and each question's outcome in file order.
    k: int = 10
    embedder: str = ""
    index: str = ""
    qa_file: str = ""
    created: str = ""
    results: list[QuestionResult] = field(default_factory=list)

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


def recall_curve(results: Iterable[QuestionResult], k: int) -> list[float]:
    """recall@1 .. recall@k over the answerable questions (empty when there are none)."""
    ranks = [r.rank for r in results if r.question.answerable]
    if not ranks:
        return []
    return [sum(1 for rank in ranks if rank is not None and rank <= j) / len(ranks) for j in range(1, k + 1)]


PERCENTILES = (50, 90, 95, 99)


def latency_percentiles(timings: list[float]) -> dict[str, float]:
    """p50 (the median), p90, p95, p99 and max of ``timings``; p90 and above are the lower nearest
    rank, as ``search_ms_p95`` has always been. Empty for no timings."""
    if not timings:
        return {}
    ordered = sorted(timings)
    figures = {f"p{p}": ordered[int(p / 100 * (len(ordered) - 1))] for p in PERCENTILES}
    return {**figures, "p50": median(ordered), "max": ordered[-1]}


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
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    searcher = Searcher.open(settings)
    reranker_id = searcher.reranker.id if searcher.reranker is not None else None
    embedder_id = searcher.embedder.id
    answerer = None
    if with_answers:
        from ragcli.answer.answerer import Answerer
        from ragcli.generation import load_generator

        # The same index and models as the retrieval scores.
        answerer = Answerer(settings, searcher, load_generator(settings))
    results: list[QuestionResult] = []
    try:
        if questions:
            # Untimed: the first search loads what loads lazily (the model session, the vectors),
            # which is no part of a search's latency.
            searcher.search(questions[0].question, k)
        for question in questions:
            started = time.perf_counter()
            hits = [{"path": h.path, "page": h.page} for h in searcher.search(question.question, k).hits]
            search_ms = (time.perf_counter() - started) * 1000
            line: dict = {"id": question.id, "hits": hits, "search_ms": round(search_ms, 2)}
            answer = answerer.ask(question.question) if answerer is not None else None
            if answer is not None:
                line.update(answer=answer.text, abstained=answer.abstained)
            results.append(QuestionResult(
                question=question, rank=first_gold_rank(hits, question.gold, limit=k), search_ms=search_ms,
                answer=answer.text if answer is not None else None, abstained=answer.abstained if answer is not None else None,
            ))
            if out_file is not None:
                out_file.write(json.dumps(line) + "\n")
                out_file.flush()
    finally:
        searcher.close()
        if out_file is not None:
            out_file.close()
    # The summary figures are @10 whatever k is: a rank past 10 is a miss for them.
    rows = [(r.question, r.rank if r.rank is not None and r.rank <= 10 else None) for r in results]
    overall = _retrieval_scores(rows)
    latency = latency_percentiles([r.search_ms for r in results])
    report = EvalReport(
        questions=len(questions),
        recall={kk: overall.get(f"recall@{kk}", 0.0) for kk in KS},
        mrr10=overall.get("mrr@10", 0.0),
        by_corpus={corpus: _retrieval_scores([r for r in rows if r[0].corpus == corpus]) for corpus in sorted({q.corpus for q in questions})},
        search_ms_median=latency.get("p50", 0.0),
        search_ms_p95=latency.get("p95", 0.0),
        reranker=reranker_id,
        k=k,
        embedder=embedder_id,
        index=str(settings.index.dir),
        qa_file=str(qa_path),
        created=created,
        results=results,
    )
    if with_answers:
        _score_answers(report)
    return report


def _score_answers(report: EvalReport) -> None:
    answerable = [r for r in report.results if r.question.answerable]
    unanswerable = [r for r in report.results if not r.question.answerable]
    abstained = [r for r in report.results if r.abstained]
    report.answer_accuracy = round(sum(1 for r in answerable if r.correct) / len(answerable), 4) if answerable else None
    report.abstention_precision = round(sum(1 for r in abstained if not r.question.answerable) / len(abstained), 4) if abstained else None
    report.abstention_recall = round(sum(1 for r in unanswerable if r.abstained) / len(unanswerable), 4) if unanswerable else None
