"""Split sections into chunks measured in the embedder's own tokens.

Boundaries follow structure: paragraphs first, then sentences, then words;
never mid-word unless a single "word" is itself longer than a chunk. Chunks
never cross a section, so every chunk keeps one page and one heading path.
Pure functions over plain data; the token counter is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ragcli.records import Chunk, Section
from ragcli.vocabulary import CHUNK_SENTENCE_END, PARAGRAPH_BREAK, near_duplicate_key

TokenCounter = Callable[[Sequence[str]], list[int]]



@dataclass(frozen=True)
class ChunkingPlan:
    max_tokens: int
    overlap_tokens: int
    # The embedder's window: chunk plus context line must fit in it.
    window: int


def _split_words(text: str, count: TokenCounter, limit: int) -> list[str]:
    """Greedy word packing for a span with no usable sentence boundary."""
    words = text.split()
    if not words:
        return []
    sizes = count(words)
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for word, size in zip(words, sizes):
        if size > limit:
            if current:
                pieces.append(" ".join(current))
                current, used = [], 0
            pieces.extend(_split_characters(word, count, limit))
            continue
        if used + size > limit and current:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(word)
        used += size
    if current:
        pieces.append(" ".join(current))
    return pieces


def _split_characters(word: str, count: TokenCounter, limit: int) -> list[str]:
    """Last resort for giant tokens (base64, hashes): fixed slices that fit."""
    width = max(1, len(word) * limit // max(1, count([word])[0]))
    while True:
        pieces = [word[i : i + width] for i in range(0, len(word), width)]
        if width == 1 or max(count(pieces)) <= limit:
            return pieces
        width = max(1, width * 3 // 4)


def split_units(text: str, count: TokenCounter, limit: int) -> list[tuple[str, int]]:
    """Cut text into units of at most ``limit`` tokens along the strongest boundary available."""
    units: list[tuple[str, int]] = []
    paragraphs = [p.strip() for p in PARAGRAPH_BREAK.split(text) if p.strip()]
    for paragraph, size in zip(paragraphs, count(paragraphs)):
        if size <= limit:
            units.append((paragraph, size))
            continue
        sentences = [s.strip() for s in CHUNK_SENTENCE_END.split(paragraph) if s and s.strip()]
        for sentence, sentence_size in zip(sentences, count(sentences)):
            if sentence_size <= limit:
                units.append((sentence, sentence_size))
            else:
                pieces = _split_words(sentence, count, limit)
                units.extend(zip(pieces, count(pieces)))
    return units


def _pack(units: list[tuple[str, int]], plan: ChunkingPlan) -> Iterable[str]:
    """Greedy packing with a tail of whole units carried over as overlap."""
    current: list[tuple[str, int]] = []
    used = 0
    for unit in units:
        text, size = unit
        if current and used + size > plan.max_tokens:
            yield "\n".join(t for t, _ in current)
            carried: list[tuple[str, int]] = []
            carried_size = 0
            for previous in reversed(current):
                if carried_size + previous[1] > plan.overlap_tokens or carried_size + previous[1] + size > plan.max_tokens:
                    break
                carried.insert(0, previous)
                carried_size += previous[1]
            current, used = carried, carried_size
        current.append(unit)
        used += size
    if current:
        yield "\n".join(t for t, _ in current)


# Boilerplate: a paragraph of at least this many words found in this many sections (pages) of one document.
_BOILERPLATE_WORDS = 4
_BOILERPLATE_SECTIONS = 3


def drop_boilerplate(sections: Sequence[Section]) -> list[Section]:
    """Keep only the first copy of a paragraph repeated across many sections (a notice on every page)."""
    seen_in: dict[str, set[int]] = {}
    split = [[p for p in PARAGRAPH_BREAK.split(section.text)] for section in sections]
    for index, paragraphs in enumerate(split):
        for paragraph in paragraphs:
            key = near_duplicate_key(paragraph)
            if key.count(" ") + 1 >= _BOILERPLATE_WORDS:
                seen_in.setdefault(key, set()).add(index)
    repeated = {key for key, where in seen_in.items() if len(where) >= _BOILERPLATE_SECTIONS}
    if not repeated:
        return list(sections)
    kept_once: set[str] = set()
    result: list[Section] = []
    for section, paragraphs in zip(sections, split):
        kept = []
        for paragraph in paragraphs:
            key = near_duplicate_key(paragraph)
            if key in repeated:
                if key in kept_once:
                    continue
                kept_once.add(key)
            kept.append(paragraph)
        text = "\n\n".join(kept)
        if text.strip():
            result.append(Section(text=text, page=section.page, headings=section.headings))
    return result


def chunk_sections(sections: Sequence[Section], title: str, count: TokenCounter, plan: ChunkingPlan) -> list[Chunk]:
    """Turn sections into ordered chunks whose context line plus text fit the embedder's window.

    Boilerplate repeated across sections, and chunks that repeat an earlier chunk of the same
    document up to case, spacing and punctuation, are kept once.
    """
    chunks: list[Chunk] = []
    context_sizes: dict[tuple[str, ...], tuple[str, int]] = {}
    seen: set[str] = set()
    for section in drop_boilerplate(sections):
        if section.headings not in context_sizes:
            context = context_line(title, section.headings)
            size = count([context])[0] if context else 0
            if size > plan.window // 4:  # a runaway heading path must not crowd out the text
                context, size = "", 0
            context_sizes[section.headings] = (context, size)
        context, context_size = context_sizes[section.headings]
        limit = max(8, min(plan.max_tokens, plan.window - context_size - 1))
        section_plan = ChunkingPlan(max_tokens=limit, overlap_tokens=min(plan.overlap_tokens, limit // 2), window=plan.window)
        for text in _pack(split_units(section.text, count, limit), section_plan):
            key = near_duplicate_key(text)
            if key in seen:
                continue
            seen.add(key)
            chunks.append(Chunk(text=text, page=section.page, headings=section.headings, context=context, ordinal=len(chunks)))
    return chunks


def context_line(title: str, headings: Sequence[str]) -> str:
    """The document title and heading path that are embedded with a chunk."""
    parts = [title] if title else []
    parts += [h for h in headings if h and h != title]
    return " > ".join(parts)
