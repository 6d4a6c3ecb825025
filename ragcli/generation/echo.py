"""A deterministic fake generator: answers with the first sentence of the first passage."""

from __future__ import annotations

import re
import threading
from typing import Iterator, Sequence

from ragcli.answer.prompt import REFUSAL
from ragcli.vocabulary import split_sentences

_PASSAGE = re.compile(r'<source id="(\d+)"[^>]*>\s*(.*?)\s*</source>', re.DOTALL)


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

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]:
        prompt = messages[-1]["content"]
        match = _PASSAGE.search(prompt)
        if match is None:
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
