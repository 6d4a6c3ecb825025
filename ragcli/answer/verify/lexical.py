"""The lexical verifier: the claim rules alone, no model."""

from __future__ import annotations

from typing import Sequence

from ragcli.answer.verify.claims import best_lexical_source, claims_of
from ragcli.answer.verify.draft import SentenceCheck


def check_sentence(sentence: str, question: str, passages: Sequence[str], threshold: float) -> SentenceCheck:
    """The lexical check of one sentence against every passage; the best passage is its source."""
    claims = claims_of(sentence, question)
    if claims.empty:
        return SentenceCheck(text=sentence, source=None, support=0.0, informative=False)
    best, support = best_lexical_source(claims, passages)
    return SentenceCheck(text=sentence, source=best, support=support, informative=True, supported=support >= threshold)


class LexicalVerifier:
    name = "lexical"
    streams = True

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck:
        return check_sentence(sentence, question, passages, self.threshold)
