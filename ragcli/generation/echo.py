"""A deterministic fake generator: answers with the first sentence of the first passage, and
writes `rag eval --generate`'s questions by rule."""

from __future__ import annotations

import re
import threading
from typing import Iterator, Sequence

from ragcli.answer.prompt import REFUSAL
from ragcli.vocabulary import normalise, split_sentences

_PASSAGE = re.compile(r'<source id="(\d+)"[^>]*>\s*(.*?)\s*</source>', re.DOTALL)
# The prompts of ragcli.evaluation_generate.
_ASKED = re.compile(r"Passage:\n(.*?)\n\nWrite one question that", re.DOTALL)
_ASKED_TERM = re.compile(r'uses the term "(.*?)"')


def _question_about(passage: str) -> str:
    """A question whose answer is the middle longer word of ``passage``, asked by the words before it."""
    words = re.findall(r"[A-Za-z]+", passage)
    at = [i for i, w in enumerate(words) if len(w) >= 7 and i >= 3]
    if not at:
        return "I cannot write a question about this."
    i = at[len(at) // 2]
    return f"Question: Which word comes after \"{' '.join(words[i - 3:i])}\" in these documents?\nAnswer: {words[i]}"


class EchoGenerator:
    id = "echo"

    def __init__(self, n_ctx: int = 4096) -> None:
        self.n_ctx = n_ctx
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def forget_cancel(self) -> None:
        self._cancelled.clear()

    def warm(self, system: str, user_start: str, cache_dir) -> int:
        return 0  # nothing to read ahead

    def choose(self, messages: Sequence[dict], options: Sequence[str]) -> dict[str, float]:
        """Deterministic verdicts for the judge's two prompts: a statement is supported when its
        longer words are all in the passage; an answer is correct when it contains the reference."""
        prompt = messages[-1]["content"]
        graded = re.search(r"Reference answer: (.*?)\n\nCandidate answer: (.*?)\n\n", prompt, re.DOTALL)
        if graded:
            best = "correct" if normalise(graded.group(1)) in normalise(graded.group(2)) else "wrong"
        else:
            stated = re.search(r"Passage:\n(.*)\n\nStatement: (.*?)\n\n", prompt, re.DOTALL)
            words = lambda text: {w for w in re.findall(r"\w{4,}", text.lower())}
            best = "yes" if stated and words(stated.group(2)) <= words(stated.group(1)) else "no"
        rest = (1 - 0.9) / max(1, len(options) - 1)
        return {option: 0.9 if option == best else rest for option in options}

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]:
        prompt = messages[-1]["content"]
        match = _PASSAGE.search(prompt)
        term, asked = _ASKED_TERM.search(prompt), _ASKED.search(prompt)
        if term is not None:
            answer = f"Question: How do I use {term.group(1)} to water the plants in my garden?"
        elif asked is not None:
            answer = _question_about(asked.group(1))
        elif match is None:
            answer = REFUSAL
        else:
            first_sentence = (split_sentences(match.group(2)) or [""])[0]
            answer = f"{first_sentence} [{match.group(1)}]"
        try:
            for word in answer.split(" ")[:max_tokens]:
                if self._cancelled.is_set():
                    raise KeyboardInterrupt
                yield word + " "
        finally:
            self._cancelled.clear()
