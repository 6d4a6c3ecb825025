"""Result shaping: ranked chunks become passages.

Pure functions over plain data. A passage is a run of consecutive chunks of one
document page: adjacent chunks that were both retrieved are merged into one
passage (a single slot in the results), at most ``max_per_page`` passages come
from one page, an optional window of neighbouring chunks adds context, and a
short passage (a title line) continues with the chunks after it.
Merging, windows and continuations never cross a page, so a passage's citation stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence


@dataclass(frozen=True)
class ChunkPlace:
    """Where a ranked chunk sits: its document, page and position in the document."""

    chunk_id: int
    document_id: int
    page: int | None
    ordinal: int


@dataclass
class Passage:
    """Consecutive chunks [low, high] of one document page; ``lead`` is the best-ranked one."""

    lead: ChunkPlace
    low: int
    high: int
    # The retrieved chunks (ids), in document order.
    hits: dict[int, int] = field(default_factory=dict)

    @property
    def document_id(self) -> int:
        return self.lead.document_id

    @property
    def page(self) -> int | None:
        return self.lead.page

    def touches(self, place: ChunkPlace) -> bool:
        return (
            place.document_id == self.document_id
            and place.page == self.page
            and self.low - 1 <= place.ordinal <= self.high + 1
        )

    def add(self, place: ChunkPlace) -> None:
        self.low, self.high = min(self.low, place.ordinal), max(self.high, place.ordinal)
        self.hits[place.ordinal] = place.chunk_id

    @property
    def chunk_ids(self) -> list[int]:
        return [self.hits[o] for o in sorted(self.hits)]


def shape_passages(
    ranked: Sequence[ChunkPlace], k: int, max_per_page: int, merge_adjacent: bool = True
) -> list[Passage]:
    """Up to ``k`` passages from chunks ranked best first.

    A chunk next to a passage already taken (same document and page) joins it
    instead of taking a new slot. Each passage ranks where its best chunk did.
    """
    passages: list[Passage] = []
    per_page: dict[Hashable, int] = {}
    for place in ranked:
        if merge_adjacent:
            joined = next((p for p in passages if p.touches(place)), None)
            if joined is not None:
                joined.add(place)
                continue
        if len(passages) >= k:
            # Full: only merges into passages already taken can still happen.
            continue
        group = (place.document_id, place.page)
        if per_page.get(group, 0) >= max_per_page:
            continue
        per_page[group] = per_page.get(group, 0) + 1
        passage = Passage(lead=place, low=place.ordinal, high=place.ordinal)
        passage.add(place)
        passages.append(passage)
    return passages


def join_texts(texts: Sequence[str]) -> str:
    """Join consecutive chunk texts, dropping the lines a chunk repeats from the one before (chunk overlap)."""
    joined: list[str] = []
    for text in texts:
        lines = text.split("\n")
        overlap = 0
        for size in range(min(len(joined), len(lines) - 1), 0, -1):
            if joined[-size:] == lines[:size]:
                overlap = size
                break
        joined.extend(lines[overlap:])
    return "\n".join(joined)


def widen(passage: Passage, window: int, neighbours: Callable[[int, int, int], dict[int, tuple[int, int | None]]]) -> list[int]:
    """Chunk ids of the passage plus up to ``window`` neighbours on each side, stopping at a page change.

    ``neighbours(document_id, low, high)`` gives ordinal -> (chunk id, page).
    """
    if window <= 0:
        return passage.chunk_ids
    ids = dict(passage.hits)
    found = neighbours(passage.document_id, passage.low - window, passage.high + window)
    for side in (range(passage.low - 1, passage.low - window - 1, -1), range(passage.high + 1, passage.high + window + 1)):
        for ordinal in side:
            if ordinal not in found or found[ordinal][1] != passage.page:
                break
            ids[ordinal] = found[ordinal][0]
    return [ids[o] for o in sorted(ids)]


def fill_short(
    chunk_ids: Sequence[int],
    page: int | None,
    length_of: Callable[[int], int],
    following: Sequence[tuple[int, int | None]],
    min_chars: int,
) -> list[int]:
    """``chunk_ids`` continued with the chunks after them on their page until the passage holds
    ``min_chars`` characters: a title or synopsis chunk alone rarely says anything to answer from.

    ``following`` is the (chunk id, page) of each chunk after the passage, in document order.
    """
    ids = list(chunk_ids)
    size = sum(length_of(cid) for cid in ids)
    for chunk_id, chunk_page in following:
        if size >= min_chars or chunk_page != page:
            break
        ids.append(chunk_id)
        size += length_of(chunk_id)
    return ids
