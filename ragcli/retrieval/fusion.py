"""Weighted reciprocal rank fusion and result shaping: pure functions over ids and scores."""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence, TypeVar

Key = TypeVar("Key", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[float, Sequence[int]]], rrf_k: int
) -> list[tuple[int, float]]:
    """Fuse ranked id lists given as (weight, ids best first); returns (id, score) best first.

    Each list contributes weight / (rrf_k + rank), so agreement between lists
    outweighs a single high rank, and raw scores of different scales never mix.
    """
    scores: dict[int, float] = {}
    for weight, ids in rankings:
        for rank, chunk_id in enumerate(ids, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def cap_per_group(items: Iterable[tuple[int, Key]], limit: int) -> list[int]:
    """Keep items in order, at most ``limit`` per group (e.g. per document page)."""
    kept: list[int] = []
    used: dict[Key, int] = {}
    for item_id, group in items:
        if used.get(group, 0) < limit:
            used[group] = used.get(group, 0) + 1
            kept.append(item_id)
    return kept
