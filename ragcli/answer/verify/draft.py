"""The keep-or-abstain decision for one draft: every sentence checked, the backed ones kept.

``verify_draft`` is the one place that decides what an answer shows; the Answerer calls it on
the model's stream, and benchmarks call it on saved drafts, so both always agree.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol, Sequence

from ragcli.answer.citation import cite, drop_invalid_citations
from ragcli.answer.verify.claims import backing_clauses
from ragcli.answer.verify.instructions import repeats_instruction
from ragcli.answer.prompt import is_refusal
from ragcli.vocabulary import SENTENCE_CLOSE, same_sentence_key, split_complete, strip_citations

# A sentence that announces what follows and stops there.
FRAGMENT = re.compile(r":\s*$")
# A sentence that opens by pointing back ("This ensures ...", "Doing so ...") says nothing on its
# own: after a withheld sentence it would be shown without what it points to.
POINTS_BACK = re.compile(r"^\W*(this|that|these|those|such|doing so|otherwise|in (this|that|which) case)\b", re.IGNORECASE)

TextSink = Callable[[str], None]
# A checked sentence, and the text shown for it (None when it is withheld).
SentenceSink = Callable[["SentenceCheck", "str | None"], None]

UNSUPPORTED_MARK = "[unsupported]"


@dataclass(frozen=True, kw_only=True)
class SentenceCheck:
    text: str
    # 1-based number of the best supporting passage, or None.
    source: int | None
    support: float
    # False when the sentence only restates the question.
    informative: bool
    # The verifier's verdict (for the lexical check: support >= threshold).
    supported: bool = False
    # Which verifier decided ("lexical", "embedding", "llm"), or "instruction" when the sentence
    # only repeats an instruction planted in its passage.
    method: str = "lexical"
    # The clauses of the source passage that back a supported sentence, for a reader to check it.
    evidence: tuple[str, ...] = ()

    def to_json(self, number: Callable[[int | None], int | None] = lambda n: n) -> dict:
        return {
            "text": self.text, "supported": self.supported, "support": round(self.support, 3), "source": number(self.source),
            "method": self.method, "evidence": list(self.evidence),
        }


class Verifier(Protocol):
    name: str
    # False when checking would disturb a generation in progress (the judge shares the model):
    # such a verifier is called only once the draft is complete.
    streams: bool

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck: ...


@dataclass(frozen=True, kw_only=True)
class CheckedDraft:
    """A draft with the verdict on each of its sentences, and what an answer shows of it."""

    draft: str
    checks: list[SentenceCheck]
    # The sentences shown: supported ones with their citation (and marked ones in "mark" mode).
    kept: list[str]
    # The model said, in some sentence, that the sources do not answer.
    refused: bool
    # Passage number in the prompt -> the number its citations show: sources are numbered in
    # the order the answer first cites them, so a reader sees [1], [2]... without gaps.
    numbering: dict[int, int] = dataclasses.field(default_factory=dict)

    @property
    def informative(self) -> list[SentenceCheck]:
        return [c for c in self.checks if c.informative]

    @property
    def supported(self) -> list[SentenceCheck]:
        return [c for c in self.informative if c.supported]

    @property
    def support_ratio(self) -> float:
        informative = self.informative
        return len(self.supported) / len(informative) if informative else 0.0

    @property
    def abstained(self) -> bool:
        """No sentence is backed: the answer is an abstention."""
        return not self.supported

    @property
    def text(self) -> str:
        return " ".join(self.kept)

    def needs_correction(self, correct_below: float) -> bool:
        """Too little of the draft holds up, or it said nothing beyond the question; a refusal
        is left alone (the model found no answer, and a retry would press it to invent one)."""
        if self.informative:
            return self.support_ratio < correct_below
        return bool(self.checks) and not self.refused

    def order(self, passages: int) -> dict[int, int]:
        """The shown number of every passage: the cited ones as cited, then the others in prompt order."""
        numbers = dict(self.numbering)
        for n in range(1, passages + 1):
            numbers.setdefault(n, len(numbers) + 1)
        return numbers

    @property
    def abstention_reason(self) -> str:
        """Why nothing is shown ("" when something is)."""
        if not self.abstained:
            return ""
        if self.refused and not self.informative:
            return "the model found no answer in the passages"
        if not self.informative:
            return "the draft only restated the question"
        return "no sentence of the draft is backed by the passages"

    def to_json(self, passages: int = 0) -> dict:
        informative = self.informative
        numbers = self.order(passages)
        return {
            "sentences": len(informative),
            "supported": len(self.supported),
            "support_ratio": round(self.support_ratio, 3),
            "unsupported": [c.text for c in informative if not c.supported],
            "per_sentence": [c.to_json(lambda n: numbers.get(n, n) if n else n) for c in informative],
        }


class _DraftChecker:
    """Checks streamed text a sentence at a time: supported sentences are passed on with their
    citation; unsupported ones are held back, or marked in "mark" mode. A verifier that cannot
    run mid-generation gets the sentences once the draft is complete."""

    def __init__(
        self, question: str, passages: Sequence[str], verifier: Verifier, mark: bool, on_text: TextSink | None,
        on_sentence: SentenceSink | None,
    ) -> None:
        self.question = question
        self.passages = passages
        self.verifier = verifier
        self.mark = mark
        self.on_text = on_text
        self.on_sentence = on_sentence
        self.numbering: dict[int, int] = {}
        self.draft = ""
        self._pending = ""
        self._deferred: list[str] = []
        self.checks: list[SentenceCheck] = []
        self.kept: list[str] = []
        self.refused = False
        # Small models loop ("=jpXa" three times over): a sentence said again is said once.
        self._seen: set[str] = set()
        # Whether the sentence before was held back (what a "This ..." after it would point to).
        self._last_withheld = False

    def feed(self, piece: str) -> None:
        self.draft += piece
        self._pending += piece
        complete, self._pending = split_complete(self._pending)
        for sentence in complete:
            self._sentence(sentence)

    def finish(self, cut_off: bool = False) -> CheckedDraft:
        """``cut_off``: the model was stopped by the token limit, so its last words are no sentence."""
        if self._pending.strip():
            if cut_off and not SENTENCE_CLOSE.search(self._pending.rstrip()).group():
                self._verdict(SentenceCheck(text=self._pending.strip(), source=None, support=0.0, informative=True, method="fragment"), None)
            else:
                self._sentence(self._pending)
        self._pending = ""
        deferred, self._deferred = self._deferred, []
        for sentence in deferred:
            self._check(sentence)
        return CheckedDraft(draft=self.draft.strip(), checks=self.checks, kept=self.kept, refused=self.refused, numbering=self.numbering)

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
        if FRAGMENT.search(strip_citations(sentence)):
            # "You can use the following command:" promises what is not there; never shown.
            self._verdict(SentenceCheck(text=sentence, source=None, support=0.0, informative=True, method="fragment"), None)
            return
        if not self.mark and self._last_withheld and POINTS_BACK.search(sentence):
            self._verdict(SentenceCheck(text=sentence, source=None, support=0.0, informative=True, method="dangling"), None)
            return
        check = self.verifier.check(sentence, self.question, self.passages)
        if check.supported and check.source:
            passage = self.passages[check.source - 1]
            if repeats_instruction(sentence, self.question, passage):
                check = dataclasses.replace(check, supported=False, method="instruction")
            else:
                check = dataclasses.replace(check, evidence=tuple(backing_clauses(sentence, self.question, passage)))
        shown = None
        if check.supported:
            shown = cite(check, self.numbering.setdefault(check.source, len(self.numbering) + 1))
        elif self.mark and check.informative:
            shown = f"{sentence} {UNSUPPORTED_MARK}"
        self._verdict(check, shown)

    def _verdict(self, check: SentenceCheck, shown: str | None) -> None:
        self.checks.append(check)
        self._last_withheld = shown is None and check.informative
        if self.on_sentence:
            self.on_sentence(check, shown)
        if shown is None:
            return
        if self.on_text:
            self.on_text(("" if not self.kept else " ") + shown)
        self.kept.append(shown)


def verify_draft(
    draft: str | Iterable[str],
    question: str,
    passages: Sequence[str],
    verifier: Verifier,
    *,
    mark: bool = False,
    on_text: TextSink | None = None,
    on_sentence: SentenceSink | None = None,
    cut_off: Callable[[], bool] | None = None,
) -> CheckedDraft:
    """Check a draft (whole, or as the pieces a model streams) against ``passages``.

    ``on_text`` receives each shown sentence as soon as it is verified, ``on_sentence`` every
    checked sentence with what is shown of it (None: withheld); ``mark`` shows unsupported
    sentences with an ``[unsupported]`` mark instead of dropping them. ``cut_off`` tells, once the
    draft is complete, whether the token limit cut it (its unfinished last sentence is a fragment).
    A sentence that ends in ":" or is cut off is a fragment, and never shown.
    """
    checker = _DraftChecker(question, passages, verifier, mark, on_text, on_sentence)
    for piece in [draft] if isinstance(draft, str) else draft:
        checker.feed(piece)
    return checker.finish(cut_off=bool(cut_off and cut_off()))
