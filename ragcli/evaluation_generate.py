"""`rag eval --generate N`: a question file made from the user's own index by the local model.

Each answerable question comes from one passage drawn at random (seeded): the model writes a
question and copies a short answer span out of the passage; the span is the gold answer and the
passage's page the gold page. Only questions that pass checks are kept: the span occurs in the
passage, the question does not contain it, the span is not in the document's title or headings
(answerable from the title alone), the question stands on its own ("this passage" has no
referent for a user). About one question in seven (the dev set's share) is unanswerable of the
hard kind: it names a real term of the corpus and asks for a use the documents do not describe;
the model reads the top passages the index returns for it and the question is dropped when it
says one of them answers it.

Decoding is greedy, so a seed gives the same file on the same index and model. Every kept
question records the attempt it came from, so ``resume`` goes on after the last one kept.
How well a generated set ranks retrieval settings against the hand-written dev set is measured
in benchmarks/RESULTS.md, "Questions made from the index".
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.store.catalog.chunks import StoredChunk
from ragcli.vocabulary import CLAIM_STOPWORDS, normalise

# A passage shorter than this rarely holds a fact worth a question (a title, a synopsis line).
MIN_PASSAGE_CHARS = 300
# The dev set's share of unanswerable questions (10 of 70).
UNANSWERABLE_SHARE = 1 / 7
# Attempts allowed per question wanted before giving up on a small or odd index.
ATTEMPTS_PER_QUESTION = 5
MAX_SPAN_WORDS = 8
_PASSAGE_CHARS = 1600  # what the prompt shows of a passage
_REPLY_TOKENS = 120
# Hits the model reads when checking that an unanswerable question is not answered after all.
_UNANSWERABLE_CHECKED = 3

SYSTEM = "You write test questions for a search tool over a user's documents. Follow the reply format exactly."
_QUESTION = re.compile(r"^\s*\**question\**\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^\s*\**answer\**\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
# Words that point at a text the user never sees.
_DEICTIC = re.compile(r"\b(passage|excerpt|(this|the above|the given) (text|section|document|page|paragraph)|mentioned above)\b", re.IGNORECASE)
# Terms worth a hard unanswerable question: identifiers, options and longer words.
_TERM = re.compile(r"(?<![\w-])(--?[a-z][\w-]{2,}|[A-Za-z][\w]*[._-][\w.-]*\w|[A-Za-z]{7,})(?![\w-])")
ANSWER_CHECK_SYSTEM = "You check whether a passage answers a question. Reply with one word: yes or no."


@dataclass(kw_only=True)
class GenerationReport:
    """What ``generate_questions`` wrote and passed over; ``rejected`` counts attempts by reason."""

    out: str
    seed: int
    model: str
    wanted: int
    answerable: int = 0
    unanswerable: int = 0
    resumed: int = 0
    attempts: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def to_json(self) -> dict:
        return {
            "out": self.out, "seed": self.seed, "model": self.model, "wanted": self.wanted,
            "questions": self.answerable + self.unanswerable, "answerable": self.answerable, "unanswerable": self.unanswerable,
            "resumed": self.resumed, "attempts": self.attempts, "rejected": dict(sorted(self.rejected.items())),
            "failures": self.failures, "seconds": round(self.seconds, 1),
        }


def _excerpt(chunk: StoredChunk) -> str:
    text = chunk.text.strip()
    return text if len(text) <= _PASSAGE_CHARS else text[:_PASSAGE_CHARS].rsplit(" ", 1)[0] + " ..."


def _where(chunk: StoredChunk) -> str:
    title = chunk.title or Path(chunk.path).name
    return f"{title}, page {chunk.page}" if chunk.page is not None else title


def question_messages(chunk: StoredChunk) -> list[dict]:
    user = (
        f"Document: {_where(chunk)}\nPassage:\n{_excerpt(chunk)}\n\n"
        "Write one question that a user of these documents, who has not seen this passage, would ask and that "
        "this passage answers with a short phrase.\n"
        "- Name the subject (the command, option, setting or topic), so the question makes sense on its own.\n"
        "- Do not put the answer in the question.\n"
        f"- The answer is at most {MAX_SPAN_WORDS} words, copied exactly from the passage.\n"
        "Reply in exactly two lines:\nQuestion: ...\nAnswer: ..."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def unanswerable_messages(chunk: StoredChunk, term: str) -> list[dict]:
    user = (
        f"Document: {_where(chunk)}\nPassage:\n{_excerpt(chunk)}\n\n"
        f"Write one question a user might ask that uses the term \"{term}\" but asks for something these documents "
        "do not describe: a plausible use, option or behaviour of it that the passage does not mention. "
        "The question must make sense on its own.\nReply in exactly one line:\nQuestion: ..."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def answer_check_messages(question: str, passage: str) -> list[dict]:
    user = f"Passage:\n{passage}\n\nQuestion: {question}\n\nDoes the passage answer the question? Reply yes or no."
    return [{"role": "system", "content": ANSWER_CHECK_SYSTEM}, {"role": "user", "content": user}]


def _clean_span(span: str) -> str:
    span = span.strip().strip("\"'`“”‘’").strip()
    return span[:-1].rstrip() if span.endswith(".") and not span.endswith("..") else span


def check_question(chunk: StoredChunk, question: str, span: str) -> str | None:
    """Why a generated (question, span) pair from ``chunk`` is not kept, or None to keep it."""
    words = question.split()
    if len(words) < 4:
        return "not a question"
    if _DEICTIC.search(question):
        return "refers to the passage"
    if not span or not re.search(r"\w", span):
        return "no answer"
    if len(span.split()) > MAX_SPAN_WORDS or len(span) > 100:
        return "answer too long"
    key = normalise(span)
    if len(key) < 2 or all(w in CLAIM_STOPWORDS for w in re.findall(r"\w+", key)):
        return "answer too vague"
    if key not in normalise(chunk.text):
        return "answer not in passage"
    if key in normalise(question):
        return "question gives the answer"
    titles = " ".join((chunk.title, *chunk.headings, chunk.context, Path(chunk.path).stem))
    if key in normalise(titles) or key in normalise(titles.replace("-", " ")):
        return "answer is in the title"
    return None


def pick_term(chunk: StoredChunk, rng: random.Random) -> str | None:
    """A real term of the passage to build an unanswerable question on: an identifier or option
    when there is one, else a longer word, never one of its title's words."""
    title = normalise(" ".join((chunk.title, chunk.context)))
    terms = [t for t in dict.fromkeys(_TERM.findall(chunk.text)) if t.lower() not in title and t.lower() not in CLAIM_STOPWORDS]
    identifiers = [t for t in terms if re.search(r"[._-]", t)]
    pool = identifiers or terms
    return rng.choice(pool) if pool else None


def _parse(reply: str, pattern: re.Pattern) -> str:
    match = pattern.search(reply)
    return match.group(1).strip() if match else ""


def parse_lone_question(reply: str) -> str:
    """The question of a one-line reply, with or without its "Question:" label: asked for one line,
    the default model mostly drops the label (all of the first unanswerable attempts on the dev index)."""
    labelled = _parse(reply, _QUESTION)
    if labelled:
        return labelled
    lines = [line.strip().strip("*").strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 and lines[0].endswith("?") else ""


def _corpus_of(path: str, roots: list[str]) -> str:
    """The indexed folder a document came from, by its name (the dev set's "corpus")."""
    holding = [r for r in roots if path == r or path.startswith(r.rstrip("/") + "/")]
    root = max(holding, key=len) if holding else str(Path(path).parent)
    return Path(root).name or root


def _relative(path: str, roots: list[str]) -> str:
    holding = [r for r in roots if path.startswith(r.rstrip("/") + "/")]
    return path[len(max(holding, key=len).rstrip("/")) + 1 :] if holding else path


def _previous(out_path: Path | None, seed: int) -> list[dict]:
    """The questions an interrupted run with this seed wrote to ``out_path`` (whole lines only)."""
    from ragcli.evaluation import previous_lines

    kept = [line for line in previous_lines(out_path, True).values() if isinstance(line.get("generated"), dict)]
    for line in kept:
        if line["generated"].get("seed") != seed:
            made = line["generated"].get("seed")
            raise RagError(f"{out_path} was generated with seed {made}, not {seed}", hint=f"Resume with --seed {made}, or write to another --out file.")
    return kept


def _reply(generator, messages: list[dict]) -> str:
    return "".join(generator.stream_chat(messages, _REPLY_TOKENS, 0.0))


def generate_questions(
    settings: Settings,
    count: int,
    *,
    out: TextIO,
    out_path: Path | None = None,
    seed: int = 0,
    resume: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Write ``count`` questions made from the index to ``out`` (QA lines, as ``rag eval`` reads
    them), one line as each is made. With ``resume``, the questions already in ``out_path`` (which
    ``out`` appends to) count and the run goes on after the last attempt they came from."""
    from ragcli.generation import load_generator
    from ragcli.retrieval.searcher import Searcher

    if count < 1:
        raise RagError(f"--generate needs a number of questions of at least 1, not {count}", hint="rag eval --generate 50 --out qa.jsonl")
    started = time.perf_counter()
    previous = _previous(out_path, seed) if resume else []
    if resume and out_path is not None and out_path.exists() and out_path.stat().st_size and not out_path.read_bytes().endswith(b"\n"):
        out.write("\n")  # after a line the interruption cut short, which _previous left out
    searcher = Searcher.open(settings)
    try:
        catalog = searcher.index.catalog
        candidates = catalog.chunks.ids_with_text(MIN_PASSAGE_CHARS)
        if not candidates:
            raise RagError(
                f"the index at {settings.index_path} holds no passage of {MIN_PASSAGE_CHARS} characters or more to ask about",
                hint="Index more documents with `rag ingest PATH...`, then run --generate again.",
            )
        roots = catalog.documents.roots()
        generator = load_generator(settings)
        report = GenerationReport(out=str(out_path) if out_path else "-", seed=seed, model=generator.id, wanted=count)
        wanted_unanswerable = round(count * UNANSWERABLE_SHARE)
        streams = (("answerable", count - wanted_unanswerable), ("unanswerable", wanted_unanswerable))
        done = {kind: [line for line in previous if (line.get("kind") == "unanswerable") == (kind == "unanswerable")] for kind, _ in streams}
        report.resumed = len(previous)
        report.answerable, report.unanswerable = len(done["answerable"]), len(done["unanswerable"])
        seen = {normalise(line["question"]) for line in previous}
        for kind, wanted in streams:
            # Each kind draws its own seeded order of passages, so resuming one leaves the other as it was.
            rng = random.Random(f"{seed}:{kind}")
            order = candidates[:]
            rng.shuffle(order)
            start = max((line["generated"]["attempt"] for line in done[kind]), default=-1) + 1
            made = len(done[kind])
            limit = min(len(order), wanted * ATTEMPTS_PER_QUESTION + 10)
            for attempt in range(start, limit):
                if made >= wanted:
                    break
                chunk = catalog.chunks.get([order[attempt]]).get(order[attempt])
                if chunk is None:
                    continue
                report.attempts += 1
                try:
                    # Seeded per attempt: a resumed run picks the same terms as an unbroken one.
                    line = (_answerable if kind == "answerable" else _unanswerable)(
                        generator, searcher, chunk, random.Random(f"{seed}:{kind}:{attempt}"), report
                    )
                except RagError as exc:
                    report.failures.append(f"attempt {attempt} ({chunk.path}): {exc}")
                    continue
                if line is None:
                    continue
                if normalise(line["question"]) in seen:
                    report.reject("same question as another")
                    continue
                seen.add(normalise(line["question"]))
                line = {
                    "id": f"gen{seed}-{'u' if kind == 'unanswerable' else 'a'}{attempt:05d}",
                    "question": line["question"], "answer": line["answer"],
                    "gold": [{"path": _relative(g["path"], roots), "page": g["page"]} for g in line["gold"]],
                    "kind": line["kind"], "corpus": _corpus_of(chunk.path, roots),
                    "generated": {"seed": seed, "attempt": attempt, "chunk": chunk.id, "model": generator.id, **line.get("generated", {})},
                }
                out.write(json.dumps(line) + "\n")  # ASCII: no raw control character reaches a terminal
                out.flush()
                made += 1
                if kind == "answerable":
                    report.answerable += 1
                else:
                    report.unanswerable += 1
                if on_progress is not None:
                    on_progress(report.answerable + report.unanswerable, count)
    finally:
        searcher.close()
    report.seconds = time.perf_counter() - started
    return report


def _answerable(generator, searcher, chunk: StoredChunk, rng: random.Random, report: GenerationReport) -> dict | None:
    reply = _reply(generator, question_messages(chunk))
    question, span = _parse(reply, _QUESTION), _clean_span(_parse(reply, _ANSWER))
    if not question or not _ANSWER.search(reply):
        report.reject("reply not in the format")
        return None
    reason = check_question(chunk, question, span)
    if reason is not None:
        report.reject(reason)
        return None
    return {"question": question, "answer": span, "gold": [{"path": chunk.path, "page": chunk.page}], "kind": "generated"}


def _unanswerable(generator, searcher, chunk: StoredChunk, rng: random.Random, report: GenerationReport) -> dict | None:
    term = pick_term(chunk, rng)
    if term is None:
        report.reject("no term to ask about")
        return None
    question = parse_lone_question(_reply(generator, unanswerable_messages(chunk, term)))
    if not question:
        report.reject("reply not in the format")
        return None
    if term.lower() not in question.lower():
        report.reject("question leaves out the term")
        return None
    if len(question.split()) < 4 or _DEICTIC.search(question):
        report.reject("refers to the passage" if _DEICTIC.search(question) else "not a question")
        return None
    checked = callable(getattr(generator, "choose", None))
    if checked:
        for hit in searcher.search(question, _UNANSWERABLE_CHECKED).hits:
            if generator.choose(answer_check_messages(question, hit.text), ("yes", "no"))["yes"] >= 0.5:
                report.reject("answered by the index after all")
                return None
    return {"question": question, "answer": "", "gold": [], "kind": "unanswerable", "generated": {"term": term, "checked": checked}}
