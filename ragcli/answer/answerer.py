"""`rag ask`: retrieve, gate, pack the passages into the model's budget, generate, verify, cite or abstain."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from ragcli.answer.citation import sources_of
from ragcli.answer.gate import evidence_gap
from ragcli.answer.prompt import FIXED_START, QUOTE_INSTRUCTION, REFUSAL, build_prompt
from ragcli.answer.reasoning import ReasoningFilter
from ragcli.answer.verify import CheckedDraft, Verifier, load_verifier, verify_draft
from ragcli.config import Settings
from ragcli.config.sections import TEMPLATE_TOKENS
from ragcli.generation import Generator, load_generator
from ragcli.records import Answer, AskEvent, AskEventKind, AskStage
from ragcli.retrieval.query import require_text
from ragcli.retrieval.scope import Scope
from ragcli.retrieval.searcher import Searcher
from ragcli.vocabulary import script_of

TextSink = Callable[[str], None]
EventSink = Callable[[AskEvent], None]

REVISED_NOTICE = "\n\n(revised after verification) "


def warm_generator(generator: Generator, settings: Settings) -> None:
    """The start every prompt shares is read once, on the first run, and then loaded."""
    try:
        generator.warm(*FIXED_START, settings.cache_path)
    except OSError:
        pass  # a read-only or full cache: the prefix is simply read with each prompt


@dataclass(frozen=True, kw_only=True)
class _Attempt:
    checked: CheckedDraft
    first_token_at: float | None
    completion_tokens: int
    reasoning: str


class Answerer:
    """A searcher, a generator and a verifier, loaded once, answering many questions."""

    def __init__(self, settings: Settings, searcher: Searcher, generator: Generator, verifier: Verifier | None = None) -> None:
        self.settings = settings
        self.searcher = searcher
        self.generator = generator
        self.verifier = verifier or load_verifier(settings, embedder=searcher.embedder, generator=generator)

    @classmethod
    def open(cls, settings: Settings) -> "Answerer":
        searcher = Searcher.open(settings)
        try:
            generator = load_generator(settings)
            warm_generator(generator, settings)
            return cls(settings, searcher, generator)
        except BaseException:
            searcher.close()
            raise

    def close(self) -> None:
        self.searcher.close()

    def __enter__(self) -> "Answerer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def ask(
        self,
        question: str,
        k: int | None = None,
        on_text: TextSink | None = None,
        on_reasoning: TextSink | None = None,
        on_event: EventSink | None = None,
        scope: Scope | None = None,
    ) -> Answer:
        """Answer ``question`` from the index (within ``scope``, default the configured one).
        ``on_text`` receives the verified answer as it streams; ``on_event`` what is happening
        (stages, the passages, draft text, each verdict)."""
        require_text(question, "question")
        options = self.settings.generation
        started = time.monotonic()
        emit = on_event or (lambda event: None)
        emit(AskEvent(kind=AskEventKind.STAGE, stage=AskStage.SEARCHING))
        # Separate chunks, not merged passages: merged ones crowd the context budget
        # (benchmarks/RESULTS.md, "Answer quality per generator").
        hits = self.searcher.search(question, k, scope, merge_adjacent=False).hits
        reason = evidence_gap(question, hits, self.settings.answer, self.searcher.unknown_terms)
        if reason:
            if on_text:
                on_text(REFUSAL)
            return Answer(
                question=question, text=REFUSAL, abstained=True, sources=sources_of(hits, ""), model=self.generator.id,
                seconds=time.monotonic() - started, verification={"skipped": reason}, abstention_reason=reason,
            )
        budget = min(options.context_tokens, self.generator.n_ctx - options.max_answer_tokens - TEMPLATE_TOKENS)
        prompt = build_prompt(question, hits, self.generator.count_tokens, budget)
        passages = [hit.text for hit in prompt.hits]
        emit(AskEvent(kind=AskEventKind.PASSAGES, hits=tuple(prompt.hits)))
        emit(AskEvent(kind=AskEventKind.STAGE, stage=AskStage.READING))
        attempt = self._attempt(
            question, prompt.messages, passages, on_text, on_reasoning if options.show_reasoning else None, started, emit
        )
        corrected = False
        checks = self.settings.verification
        if checks.self_correct and attempt.checked.needs_correction(checks.correct_below):
            emit(AskEvent(kind=AskEventKind.STAGE, stage=AskStage.REVISING))
            # Not streamed: it is shown only if it holds up.
            revision = self._attempt(question, prompt.asking(QUOTE_INSTRUCTION), passages, None, None, started, None)
            # A true quote is backed in full; a sentence the sources do not back means the model
            # improvised again, and its "quote" is no better evidence than the draft.
            if revision.checked.informative and revision.checked.support_ratio == 1.0:
                if on_text:
                    on_text((REVISED_NOTICE if attempt.checked.kept else "") + revision.checked.text)
                attempt, corrected = revision, True
        checked = attempt.checked
        text = REFUSAL if checked.abstained else checked.text
        if checked.abstained and on_text:
            on_text(REFUSAL)
        report = checked.to_json(len(prompt.hits))
        report.update(method=self.verifier.name, corrected=corrected, marked=checks.unsupported == "mark")
        if attempt.reasoning:
            report["reasoning_chars"] = len(attempt.reasoning)
        notes = []
        if prompt.language and not checked.abstained and not script_of(text):
            notes.append("the answer is not in the question's language: the model writes English best")
        evidence: dict[int, list[str]] = {}
        for check in checked.supported:
            evidence.setdefault(check.source, [])
            evidence[check.source] += [clause for clause in check.evidence if clause not in evidence[check.source]]
        return Answer(
            question=question,
            text=text,
            abstained=checked.abstained,
            sources=sources_of(prompt.hits, text, checked.order(len(prompt.hits)), evidence),
            model=self.generator.id,
            seconds_to_first_token=attempt.first_token_at,
            seconds=time.monotonic() - started,
            completion_tokens=attempt.completion_tokens,
            draft=checked.draft,
            verification=report,
            abstention_reason=checked.abstention_reason,
            notes=tuple(notes),
        )

    def _attempt(
        self, question: str, messages: list[dict], passages: Sequence[str], on_text: TextSink | None,
        on_reasoning: TextSink | None, started: float, emit: EventSink | None,
    ) -> _Attempt:
        options = self.settings.generation
        tokens = _TokenStream(self.generator.stream_chat(messages, options.max_answer_tokens, options.temperature), started)
        thinking = ReasoningFilter()

        def answer_pieces() -> Iterator[str]:
            for piece in tokens:
                if tokens.count == 1 and emit:
                    emit(AskEvent(kind=AskEventKind.STAGE, stage=AskStage.WRITING))
                answer, thought = thinking.feed(piece)
                if thought and on_reasoning:
                    on_reasoning(thought)
                if answer and emit:
                    emit(AskEvent(kind=AskEventKind.DRAFT, text=answer))
                yield answer
            rest, thought = thinking.finish()
            if thought and on_reasoning:
                on_reasoning(thought)
            if emit:
                if rest:
                    emit(AskEvent(kind=AskEventKind.DRAFT, text=rest))
                emit(AskEvent(kind=AskEventKind.STAGE, stage=AskStage.CHECKING))
            yield rest

        def verdict(check, shown: str | None) -> None:
            if emit:
                emit(AskEvent(kind=AskEventKind.SENTENCE, text=shown or "", withheld="" if shown else check.text))

        checked = verify_draft(
            answer_pieces(), question, passages, self.verifier, mark=self.settings.verification.unsupported == "mark",
            on_text=on_text, on_sentence=verdict, cut_off=lambda: tokens.count >= options.max_answer_tokens,
        )
        return _Attempt(checked=checked, first_token_at=tokens.first_at, completion_tokens=tokens.count, reasoning=thinking.reasoning)


class _TokenStream:
    """The generator's pieces, counted, with the time the first one came (seconds after ``started``)."""

    def __init__(self, pieces: Iterable[str], started: float) -> None:
        self._pieces = pieces
        self._started = started
        self.first_at: float | None = None
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self.count += 1
            if self.first_at is None:
                self.first_at = time.monotonic() - self._started
            yield piece


def ask(
    settings: Settings, question: str, k: int | None = None, on_text: TextSink | None = None, on_reasoning: TextSink | None = None
) -> Answer:
    """One-shot ask: load the index and models, answer, close."""
    with Answerer.open(settings) as answerer:
        return answerer.ask(question, k, on_text, on_reasoning)
