"""`rag eval`: run retrieval (and optionally answering) over a QA file and score it.

The QA format and the result lines follow ../shared/eval/devset (qa.jsonl in,
score.py-readable JSONL out). Models are loaded once for the whole file.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from statistics import median
from typing import Callable, Iterable

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
    # What the answer cited, as (path, page); how many draft sentences the verifier checked; the
    # sentences shown, each with the number of the passage it cites and that passage's text.
    cited: tuple[tuple[str, int | None], ...] = ()
    draft_sentences: int = 0
    shown: tuple[tuple[str, int | None, str], ...] = ()
    # With --judge: its grade of the answer (Grade.to_json) and of each shown sentence.
    grade: dict | None = None
    verdicts: tuple[dict, ...] = ()
    judged: bool = False
    # Why answering or judging this question failed (the run went on; a resumed run tries it again).
    error: str | None = None

    def to_line(self, hits: list[dict]) -> dict:
        """The --out line (score.py's format, plus what a resumed run needs to skip this question)."""
        line: dict = {"id": self.question.id, "hits": hits, "search_ms": round(self.search_ms, 2)}
        if self.answer is not None:
            line.update(answer=self.answer, abstained=self.abstained, cited=[list(c) for c in self.cited],
                        draft_sentences=self.draft_sentences, shown=[list(s) for s in self.shown])
        if self.judged:
            line.update(grade=self.grade, verdicts=list(self.verdicts))
        if self.error is not None:
            line["error"] = self.error
        return line

    @classmethod
    def from_line(cls, question: Question, line: dict, k: int) -> "QuestionResult":
        return cls(
            question=question, rank=first_gold_rank(line["hits"], question.gold, limit=k), search_ms=float(line.get("search_ms", 0.0)),
            answer=line.get("answer"), abstained=line.get("abstained"),
            cited=tuple((c[0], c[1]) for c in line.get("cited", ())), draft_sentences=int(line.get("draft_sentences", 0)),
            shown=tuple((s[0], s[1], s[2]) for s in line.get("shown", ())), grade=line.get("grade"),
            verdicts=tuple(line.get("verdicts", ())), judged="verdicts" in line, error=line.get("error"),
        )

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
    # With --answers: how far the shown answers hold to their sources (evaluation_faithfulness).
    faithfulness: dict | None = None
    # The judge's model id with --judge.
    judge: str | None = None
    # The questions whose answer or judgement failed: {"id", "error"}.
    failures: list[dict] = field(default_factory=list)

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
            "faithfulness": self.faithfulness,
            "judge": self.judge,
            "failures": self.failures,
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


def previous_lines(out_path: Path | None, resume: bool) -> dict[str, dict]:
    """The questions an interrupted run already wrote to ``out_path`` (the last line of an id wins)."""
    if not resume or out_path is None or not out_path.exists():
        return {}
    done: dict[str, dict] = {}
    try:
        for raw in out_path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw)
                done[str(line["id"])] = line
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the interruption
    except OSError as exc:
        raise RagError(f"cannot read {out_path} to resume: {exc.strerror}", hint="Run without --resume to start over.") from exc
    return done


def _answered(question: Question, rank: int | None, search_ms: float, answer) -> QuestionResult:
    by_number = {source.n: source for source in answer.sources}
    checks = (answer.verification or {}).get("per_sentence", [])
    shown = tuple(
        (c["text"], c.get("source"), by_number[c["source"]].hit.text if c.get("source") in by_number else "")
        for c in checks if c.get("supported")
    ) if not answer.abstained else ()
    return QuestionResult(
        question=question, rank=rank, search_ms=search_ms, answer=answer.text, abstained=answer.abstained,
        cited=tuple((s.hit.path, s.hit.page) for s in answer.sources if s.cited),
        draft_sentences=int((answer.verification or {}).get("sentences", 0)), shown=shown,
    )


def _judged(result: QuestionResult, judge) -> QuestionResult:
    """``result`` with the judge's grade (answerable questions it answered) and sentence verdicts."""
    grade = None
    if result.question.answerable and not result.abstained:
        grade = judge.grade(result.question.question, result.question.answer, result.answer or "").to_json()
    verdicts = []
    for text, source, passage in result.shown:
        p = judge.supports(text, passage) if passage else 0.0  # a sentence citing no passage is backed by none
        verdicts.append({"text": text, "source": source, "p_supported": round(p, 4), "supported": p >= 0.5})
    return dataclasses.replace(result, grade=grade, verdicts=tuple(verdicts), judged=True)


def evaluate(
    settings: Settings,
    qa_path: Path,
    *,
    k: int = 10,
    with_answers: bool = False,
    out_path: Path | None = None,
    judge_model: str | None = None,
    resume: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Score retrieval (and with ``with_answers``, answers; with ``judge_model`` set, "" for the
    default judge, also the judge's verdicts) on a QA file. With ``resume``, questions already in
    ``out_path`` are taken from it instead of run again. ``on_progress(done, total)`` after each."""
    questions = load_questions(qa_path)
    judging = with_answers and judge_model is not None
    previous = previous_lines(out_path, resume)
    try:
        # Opened first and written per question: a bad path fails now, and a long run keeps its progress.
        out_file = open(out_path, "w", encoding="utf-8") if out_path is not None else None
        # A resumed file keeps its whole lines only (the last one may have been cut by the kill).
        for line in previous.values():
            out_file.write(json.dumps(line) + "\n")
    except OSError as exc:
        raise RagError(f"cannot write results to {out_path}: {exc.strerror}", hint="Pass an --out path in an existing, writable folder.") from exc
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    searcher = Searcher.open(settings)
    reranker_id = searcher.reranker.id if searcher.reranker is not None else None
    embedder_id = searcher.embedder.id
    answerer = judge = None
    results: list[QuestionResult] = []
    try:
        if with_answers:
            from ragcli.answer.answerer import Answerer
            from ragcli.generation import load_generator

            # The same index and models as the retrieval scores.
            answerer = Answerer(settings, searcher, load_generator(settings))
        if judging:
            from ragcli.evaluation_judge import Judge, load_judge

            # The answering model judges unless another is named: one model in memory, not two.
            separate = judge_model or settings.verification.judge_model
            judge = load_judge(settings, judge_model or "") if separate else Judge(answerer.generator)
        if questions:
            # Untimed: the first search loads what loads lazily (the model session, the vectors),
            # which is no part of a search's latency.
            searcher.search(questions[0].question, k)
        for number, question in enumerate(questions, start=1):
            line = previous.get(question.id)
            if line is not None and "error" not in line and (not with_answers or "answer" in line) and (not judging or "verdicts" in line):
                results.append(QuestionResult.from_line(question, line, k))
            else:
                started = time.perf_counter()
                hits = [{"path": h.path, "page": h.page} for h in searcher.search(question.question, k).hits]
                search_ms = (time.perf_counter() - started) * 1000
                rank = first_gold_rank(hits, question.gold, limit=k)
                result = QuestionResult(question=question, rank=rank, search_ms=search_ms)
                try:
                    if answerer is not None:
                        result = _answered(question, rank, search_ms, answerer.ask(question.question))
                    if judge is not None:
                        result = _judged(result, judge)
                except RagError as exc:
                    # One question the model fails on is a wrong answer, not the end of a long run.
                    result = dataclasses.replace(result, error=str(exc), answer=result.answer if result.answer is not None else "",
                                                 abstained=bool(result.abstained))
                results.append(result)
                if out_file is not None:
                    out_file.write(json.dumps(result.to_line(hits)) + "\n")
                    out_file.flush()
            if on_progress is not None:
                on_progress(number, len(questions))
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
        from ragcli.evaluation_faithfulness import faithfulness

        report.faithfulness = faithfulness(results)
        for corpus, scores in report.by_corpus.items():
            scores["faithfulness"] = faithfulness([r for r in results if r.question.corpus == corpus])
        report.judge = judge.id if judge is not None else None
    report.failures = [{"id": r.question.id, "error": r.error} for r in results if r.error is not None]
    return report


def _score_answers(report: EvalReport) -> None:
    answerable = [r for r in report.results if r.question.answerable]
    unanswerable = [r for r in report.results if not r.question.answerable]
    abstained = [r for r in report.results if r.abstained]
    report.answer_accuracy = round(sum(1 for r in answerable if r.correct) / len(answerable), 4) if answerable else None
    report.abstention_precision = round(sum(1 for r in abstained if not r.question.answerable) / len(abstained), 4) if abstained else None
    report.abstention_recall = round(sum(1 for r in unanswerable if r.abstained) / len(unanswerable), 4) if unanswerable else None
