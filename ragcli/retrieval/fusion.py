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


def blend_second_stage(
    fused: Sequence[tuple[int, float]], second: dict[int, float], weight: float, rrf_k: int
) -> list[tuple[int, float]]:
    """Re-rank the candidates that the second stage scored; the rest keep their order below them.

    Both rankings meet as reciprocal ranks (first stage weighs 1, second ``weight``),
    so a stronger model moves candidates without its raw scores needing calibration,
    and the first stage's exact-term evidence still counts.
    """
    candidates = [chunk_id for chunk_id, _ in fused if chunk_id in second]
    first_rank = {chunk_id: rank for rank, chunk_id in enumerate(candidates, start=1)}
    second_order = sorted(candidates, key=lambda chunk_id: (-second[chunk_id], first_rank[chunk_id]))
    blended = {
        chunk_id: 1.0 / (rrf_k + first_rank[chunk_id]) + weight / (rrf_k + rank)
        for rank, chunk_id in enumerate(second_order, start=1)
    }
    head = sorted(blended.items(), key=lambda item: (-item[1], first_rank[item[0]]))
    rest = [chunk_id for chunk_id, _ in fused if chunk_id not in second]
    # Scores below every re-scored candidate (each of those has both ranks <= n), in first-stage order.
    n = len(candidates)
    return head + [(chunk_id, (1.0 + weight) / (rrf_k + n + j)) for j, chunk_id in enumerate(rest, start=1)]
