"""The lexical verifier: grounding's term check, no model."""

from __future__ import annotations

from typing import Sequence

from ragcli.grounding import SentenceCheck, check_sentence


class LexicalVerifier:
    name = "lexical"
    streams = True

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck:
        return check_sentence(sentence, question, passages, self.threshold)
