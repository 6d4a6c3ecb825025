"""`rag ask`: retrieve, pack the passages into the model's budget, generate, verify, cite or abstain."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

from ragcli.config import Settings
from ragcli.generation import Generator, load_generator
from ragcli.generation.reasoning import ReasoningFilter
from ragcli.grounding import (
    SentenceCheck, Verification, cite, question_terms, same_sentence_key, split_complete, unfamiliar_names,
)
from ragcli.prompting import QUOTE_INSTRUCTION, REFUSAL, build_prompt, cited_numbers, drop_invalid_citations, is_refusal
from ragcli.records import Answer, Source
from ragcli.retrieval.searcher import Searcher
from ragcli.verification import Verifier, load_verifier

TextSink = Callable[[str], None]

UNSUPPORTED_MARK = "[unsupported]"
REVISED_NOTICE = "\n\n(revised after verification) "


def for_the_model(settings: Settings) -> Settings:
    """The retrieval settings for a prompt: merged passages are long and crowd the context budget."""
    retrieval = dataclasses.replace(settings.retrieval, merge_adjacent=settings.generation.merge_adjacent)
    return dataclasses.replace(settings, retrieval=retrieval)


class Answerer:
    """A searcher, a generator and a verifier, loaded once, answering many questions."""

    def __init__(self, settings: Settings, searcher: Searcher, generator: Generator, verifier: Verifier | None = None) -> None:
        self.settings = settings
        self.searcher = searcher
        self.generator = generator
        self.verifier = verifier or load_verifier(settings, embedder=searcher.embedder, generator=generator)

    @classmethod
    def open(cls, settings: Settings) -> "Answerer":
        searcher = Searcher.open(for_the_model(settings))
        try:
            return cls(settings, searcher, load_generator(settings))
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
    ) -> Answer:
        """Answer ``question`` from the index; ``on_text`` receives the verified answer as it streams."""
        options = self.settings.generation
        started = time.monotonic()
        hits = self.searcher.search(question, k).hits
        reason = self._evidence_gap(question, hits)
        if reason:
            # Answering without evidence would only invite the model to make things up.
            if on_text:
                on_text(REFUSAL)
            sources = [Source(n, hit, cited=False) for n, hit in enumerate(hits, start=1)]
            return Answer(
                question, REFUSAL, True, sources, self.generator.id, None, time.monotonic() - started, 0,
                verification={"skipped": reason},
            )
        budget = min(options.context_tokens, self.generator.n_ctx - options.max_answer_tokens - 256)
        prompt = build_prompt(question, hits, self.generator.count_tokens, budget, options.passage_tokens)
        passages = [hit.text for hit in prompt.hits]
        attempt = self._attempt(question, prompt.messages, passages, on_text, on_reasoning if options.show_reasoning else None, started)
        corrected = False
        checks = self.settings.verification
        if checks.self_correct and attempt.needs_correction(checks.correct_below):
            # Not streamed: it is shown only if it holds up.
            revision = self._attempt(question, prompt.asking(QUOTE_INSTRUCTION), passages, None, None, started)
            # A true quote is backed in full; a sentence the sources do not back means the model
            # improvised again, and its "quote" is no better evidence than the draft.
            if revision.informative and revision.support_ratio == 1.0:
                if on_text:
                    on_text((REVISED_NOTICE if attempt.kept else "") + " ".join(revision.kept))
                attempt, corrected = revision, True
        verification = Verification(attempt.checks, options.min_support)
        abstained = not attempt.supported_count
        text = REFUSAL if abstained else " ".join(attempt.kept)
        if abstained and on_text:
            on_text(REFUSAL)
        cited = set(cited_numbers(text))
        sources = [Source(n, hit, cited=n in cited) for n, hit in enumerate(prompt.hits, start=1)]
        report = verification.to_json()
        report.update(method=self.verifier.name, corrected=corrected, marked=checks.unsupported == "mark")
        if attempt.reasoning:
            report["reasoning_chars"] = len(attempt.reasoning)
        return Answer(
            question=question,
            text=text,
            abstained=abstained,
            sources=sources,
            model=self.generator.id,
            seconds_to_first_token=attempt.first_token_at,
            seconds=time.monotonic() - started,
            completion_tokens=attempt.completion_tokens,
            draft=attempt.draft,
            verification=report,
        )

    def _attempt(self, question, messages, passages, on_text, on_reasoning, started) -> "_Attempt":
        options = self.settings.generation
        checker = _SentenceChecker(
            question, passages, self.verifier, self.settings.verification.unsupported == "mark", on_text
        )
        thinking = ReasoningFilter()
        first_token_at: float | None = None
        tokens = 0
        for piece in self.generator.stream_chat(messages, options.max_answer_tokens, options.temperature):
            tokens += 1
            if first_token_at is None:
                first_token_at = time.monotonic() - started
            answer, thought = thinking.feed(piece)
            if thought and on_reasoning:
                on_reasoning(thought)
            if answer:
                checker.feed(answer)
        rest, thought = thinking.finish()
        if thought and on_reasoning:
            on_reasoning(thought)
        checker.feed(rest)
        checker.finish()
        return _Attempt(
            checker.draft.strip(), checker.checks, checker.kept, first_token_at, tokens, thinking.reasoning, checker.refused
        )

    def _evidence_gap(self, question: str, hits: list) -> str:
        """Why the retrieved evidence cannot answer the question, or "" if it might."""
        if not hits:
            return "no passages found"
        best = max((hit.similarity for hit in hits if hit.similarity is not None), default=None)
        if best is not None and best < self.settings.retrieval.min_similarity:
            return f"best passage similarity {best:.2f} is below retrieval.min_similarity"
        if self.settings.retrieval.unknown_names:
            unknown = self.searcher.index.catalog.unknown_terms(question_terms(question))
            names = unfamiliar_names(question, unknown, [hit.text for hit in hits])
            if names:
                return "the documents never mention " + ", ".join(names)
        return ""


@dataclass
class _Attempt:
    draft: str
    checks: list[SentenceCheck]
    # The sentences shown: supported ones with their citation (and marked ones in "mark" mode).
    kept: list[str]
    first_token_at: float | None
    completion_tokens: int
    reasoning: str = ""
    # The model said the sources do not answer (in any sentence).
    refused: bool = False
    informative: list[SentenceCheck] = field(init=False)

    def __post_init__(self) -> None:
        self.informative = [c for c in self.checks if c.informative]

    @property
    def supported_count(self) -> int:
        return sum(1 for c in self.informative if c.supported)

    @property
    def support_ratio(self) -> float:
        return self.supported_count / len(self.informative) if self.informative else 0.0

    def needs_correction(self, correct_below: float) -> bool:
        """Too little of the draft holds up, or it said nothing beyond the question; a refusal
        is left alone (the model found no answer, and a retry would press it to invent one)."""
        if self.informative:
            return self.support_ratio < correct_below
        return bool(self.checks) and not self.refused


class _SentenceChecker:
    """Verifies the streamed answer a sentence at a time: supported sentences are passed on
    with their citation; unsupported ones are held back, or marked in "mark" mode. A verifier
    that cannot run mid-generation gets the sentences once the draft is complete."""

    def __init__(self, question: str, passages: list[str], verifier: Verifier, mark: bool, on_text: TextSink | None) -> None:
        self.question = question
        self.passages = passages
        self.verifier = verifier
        self.mark = mark
        self.on_text = on_text
        self.draft = ""
        self._pending = ""
        self._deferred: list[str] = []
        self.checks: list[SentenceCheck] = []
        self.kept: list[str] = []
        self.refused = False
        # Small models loop ("=jpXa" three times over): a sentence said again is said once.
        self._seen: set[str] = set()

    def feed(self, piece: str) -> None:
        self.draft += piece
        self._pending += piece
        complete, self._pending = split_complete(self._pending)
        for sentence in complete:
            self._sentence(sentence)

    def finish(self) -> None:
        if self._pending.strip():
            self._sentence(self._pending)
        self._pending = ""
        deferred, self._deferred = self._deferred, []
        for sentence in deferred:
            self._check(sentence)

    def _sentence(self, sentence: str) -> None:
        if self.verifier.streams:
            self._check(sentence)
        else:
            self._deferred.append(sentence)

    def _check(self, sentence: str) -> None:
        sentence = drop_invalid_citations(sentence, len(self.passages)).strip()
        if not sentence:
            return
        if is_refusal(sentence):
            self.refused = True
            return
        said = same_sentence_key(sentence)
        if said in self._seen:
            return
        self._seen.add(said)
        check = self.verifier.check(sentence, self.question, self.passages)
        self.checks.append(check)
        if check.supported:
            shown = cite(Verification([check], 0.0))
        elif self.mark and check.informative:
            shown = f"{sentence} {UNSUPPORTED_MARK}"
        else:
            return
        if self.on_text:
            self.on_text(("" if not self.kept else " ") + shown)
        self.kept.append(shown)


def ask(
    settings: Settings, question: str, k: int | None = None, on_text: TextSink | None = None, on_reasoning: TextSink | None = None
) -> Answer:
    """One-shot ask: load the index and models, answer, close."""
    with Answerer.open(settings) as answerer:
        return answerer.ask(question, k, on_text, on_reasoning)
