"""A cheap deterministic reranker for tests: the share of the query's words that a passage contains."""

from __future__ import annotations

from typing import Sequence

from ragcli.vocabulary import WORD


class OverlapReranker:
    id = "overlap-v1"

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        wanted = set(WORD.findall(query.lower()))
        if not wanted:
            return [0.0] * len(passages)
        return [len(wanted & set(WORD.findall(text.lower()))) / len(wanted) for text in passages]
