"""A cheap deterministic reranker for tests: the share of the query's words that a passage contains."""

from __future__ import annotations

import re
from typing import Sequence

_WORD = re.compile(r"\w+")


class OverlapReranker:
    id = "overlap-v1"

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        wanted = set(_WORD.findall(query.lower()))
        if not wanted:
            return [0.0] * len(passages)
        return [len(wanted & set(_WORD.findall(text.lower()))) / len(wanted) for text in passages]
