"""`rag ask`: retrieve, pack the passages into the model's budget, generate, cite or abstain."""

from __future__ import annotations

import time
from typing import Callable

from ragcli.config import Settings
from ragcli.generation import Generator, load_generator
from ragcli.grounding import SentenceCheck, Verification, cite, question_terms, split_complete, unfamiliar_names, verify
from ragcli.prompting import REFUSAL, build_prompt, cited_numbers, drop_invalid_citations, is_refusal
from ragcli.records import Answer, Source
from ragcli.retrieval.searcher import Searcher

TextSink = Callable[[str], None]


class Answerer:
    """A searcher and a generator, loaded once, answering many questions."""

    def __init__(self, settings: Settings, searcher: Searcher, generator: Generator) -> None:
        self.settings = settings
        self.searcher = searcher
        self.generator = generator

    @classmethod
    def open(cls, settings: Settings) -> "Answerer":
        searcher = Searcher.open(settings)
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

    def ask(self, question: str, k: int | None = None, on_text: TextSink | None = None) -> Answer:
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
        prompt = build_prompt(question, hits, self.generator.count_tokens, budget)
        passages = [hit.text for hit in prompt.hits]
        checker = _SentenceChecker(question, passages, options.min_support, on_text)
        first_token_at: float | None = None
        for piece in self.generator.stream_chat(prompt.messages, options.max_answer_tokens, options.temperature):
            if first_token_at is None:
                first_token_at = time.monotonic() - started
            checker.feed(piece)
        checker.finish()
        draft = checker.draft.strip()
        verification = Verification(checker.checks, options.min_support)
        abstained = not checker.kept
        text = REFUSAL if abstained else " ".join(checker.kept)
        if abstained and on_text:
            on_text(REFUSAL)
        cited = set(cited_numbers(text))
        sources = [Source(n, hit, cited=n in cited) for n, hit in enumerate(prompt.hits, start=1)]
        return Answer(
            question=question,
            text=text,
            abstained=abstained,
            sources=sources,
            model=self.generator.id,
            seconds_to_first_token=first_token_at,
            seconds=time.monotonic() - started,
            completion_tokens=self.generator.count_tokens(draft) if draft else 0,
            draft=draft,
            verification=verification.to_json(),
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
            names = unfamiliar_names(question, unknown)
            if names:
                return "the documents never mention " + ", ".join(names)
        return ""


class _SentenceChecker:
    """Verifies the streamed answer a sentence at a time: supported sentences are passed on
    with their citation, unsupported ones are held back."""

    def __init__(self, question: str, passages: list[str], threshold: float, on_text: TextSink | None) -> None:
        self.question = question
        self.passages = passages
        self.threshold = threshold
        self.on_text = on_text
        self.draft = ""
        self._pending = ""
        self.checks: list[SentenceCheck] = []
        self.kept: list[str] = []

    def feed(self, piece: str) -> None:
        self.draft += piece
        self._pending += piece
        complete, self._pending = split_complete(self._pending)
        for sentence in complete:
            self._check(sentence)

    def finish(self) -> None:
        if self._pending.strip():
            self._check(self._pending)
        self._pending = ""

    def _check(self, sentence: str) -> None:
        sentence = drop_invalid_citations(sentence, len(self.passages)).strip()
        if not sentence or is_refusal(sentence):
            return
        result = verify(sentence, self.question, self.passages, self.threshold)
        self.checks.extend(result.sentences)
        if not result.supported:
            return
        cited = cite(result)
        if self.on_text:
            self.on_text(("" if not self.kept else " ") + cited)
        self.kept.append(cited)


def ask(settings: Settings, question: str, k: int | None = None, on_text: TextSink | None = None) -> Answer:
    """One-shot ask: load the index and models, answer, close."""
    with Answerer.open(settings) as answerer:
        return answerer.ask(question, k, on_text)
