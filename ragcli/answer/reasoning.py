"""Separate a reasoning model's <think>...</think> text from its answer, as the tokens stream.

A tag can arrive split over several pieces ("<th", "ink>"), so text that could still be the
start of a tag is held back until the next piece decides it.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def _partial_tag_tail(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ReasoningFilter:
    """Feed streamed pieces; get back (answer text, reasoning text) that is safe to show now."""

    def __init__(self) -> None:
        self._held = ""
        self._thinking = False
        self.reasoning = ""

    def feed(self, piece: str) -> tuple[str, str]:
        text = self._held + piece
        self._held = ""
        answer, thought = "", ""
        while text:
            tag = CLOSE if self._thinking else OPEN
            at = text.find(tag)
            if at >= 0:
                if self._thinking:
                    thought += text[:at]
                else:
                    answer += text[:at]
                text = text[at + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_tag_tail(text, tag)
            shown, self._held = (text[: len(text) - keep], text[len(text) - keep :]) if keep else (text, "")
            if self._thinking:
                thought += shown
            else:
                answer += shown
            text = ""
        self.reasoning += thought
        return answer, thought

    def finish(self) -> tuple[str, str]:
        """Flush what was held back; an unclosed <think> keeps its text as reasoning."""
        held, self._held = self._held, ""
        if self._thinking:
            self.reasoning += held
            return "", held
        return held, ""
