"""The LLM as a judge: a generator asked whether a passage supports a sentence.

Specific terms (identifiers, numbers, quoted spans) are still checked verbatim first: small
judges say "yes" to near misses such as --full-name for --full-tree.
"""

from __future__ import annotations

import re
from typing import Sequence

from ragcli.answer.verify.claims import claims_of, passage_support
from ragcli.answer.verify.draft import SentenceCheck

JUDGE_SYSTEM = "You check statements against a passage. Reply with one word: yes or no."
# Judging against the two passages that share most words keeps the judge's prompts short.
_PASSAGES_JUDGED = 2


def judge_messages(sentence: str, passage: str) -> list[dict]:
    user = (
        f"Passage:\n{passage}\n\nStatement: {sentence}\n\n"
        "Does the passage state or directly imply the statement? Reply yes or no."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(reply: str) -> bool:
    words = re.findall(r"[a-z]+", reply.lower())
    return bool(words) and words[0] == "yes"


class JudgeVerifier:
    name = "llm"

    def __init__(self, generator, lexical_threshold: float, shares_generator: bool) -> None:
        self.generator = generator
        self.lexical_threshold = lexical_threshold
        # A judge that is also the answering model cannot run between the tokens of an answer.
        self.streams = not shares_generator

    def supports(self, sentence: str, passage: str) -> bool:
        """The judge's yes/no on one passage, without the verbatim check of specific terms."""
        reply = "".join(self.generator.stream_chat(judge_messages(sentence, passage), 4, 0.0))
        return parse_verdict(reply)

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck:
        claims = claims_of(sentence, question)
        if claims.empty:
            return SentenceCheck(text=sentence, source=None, support=0.0, informative=False, method=self.name)
        lexical = [passage_support(claims, p) for p in passages]
        ranked = sorted((i for i, (_, ok) in enumerate(lexical) if ok), key=lambda i: -lexical[i][0])
        for i in ranked[:_PASSAGES_JUDGED]:
            if self.supports(sentence, passages[i]):
                return SentenceCheck(text=sentence, source=i + 1, support=1.0, informative=True, supported=True, method=self.name)
        best = ranked[0] + 1 if ranked else None
        return SentenceCheck(text=sentence, source=best, support=0.0, informative=True, supported=False, method=self.name)
