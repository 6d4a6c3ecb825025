"""Split sections into chunks measured in the embedder's own tokens.

Boundaries follow structure: paragraphs first, then sentences, then words;
never mid-word unless a single "word" is itself longer than a chunk. Chunks
never cross a section, so every chunk keeps one page and one heading path.
Pure functions over plain data; the token counter is passed in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from ragcli.records import Chunk, Section
from ragcli.vocabulary import CHUNK_SENTENCE_END, PARAGRAPH_BREAK, near_duplicate_key

TokenCounter = Callable[[Sequence[str]], list[int]]

# Texts are counted this many at a time, so a page of a million sentences never has all its
# tokenizations in memory at once.
_COUNT_BATCH = 256
# A text this many times longer (in characters) than a chunk's token budget is split without
# being counted whole: a token covers at least one character, so counting a 20 MB paragraph at
# once would only cost gigabytes to learn that it does not fit.
_UNCOUNTED_RATIO = 64

if TYPE_CHECKING:
    from ragcli.config.sections import ChunkingSettings


@dataclass(frozen=True)
class ChunkingPlan:
    max_tokens: int
    overlap_tokens: int
    # The embedder's window: chunk plus context line must fit in it.
    window: int

    @classmethod
    def for_window(cls, settings: "ChunkingSettings", window: int) -> "ChunkingPlan":
        """The configured chunk size and overlap, the size clamped to the embedder's window."""
        return cls(max_tokens=min(settings.tokens, window), overlap_tokens=settings.overlap, window=window)


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= _COUNT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(count: TokenCounter, texts: Sequence[str]) -> list[int]:
    return [size for batch in _batches(texts) for size in count(batch)]


def _sized(count: TokenCounter, texts: Iterable[str], limit: int) -> Iterator[tuple[str, int]]:
    """Each text with its token count, counted a batch at a time; a text far too long for
    ``limit`` is reported as too long without being counted."""
    cap = limit * _UNCOUNTED_RATIO
    for batch in _batches(texts):
        fitting = [t for t in batch if len(t) <= cap]
        counted = iter(count(fitting) if fitting else [])
        for text in batch:
            yield text, next(counted) if len(text) <= cap else limit + 1


def _pieces(boundary: re.Pattern[str], text: str) -> Iterator[str]:
    """``boundary.split(text)``, stripped and without empty pieces, one at a time."""
    start = 0
    for match in boundary.finditer(text):
        piece = text[start : match.start()].strip()
        if piece:
            yield piece
        start = match.end()
    piece = text[start:].strip()
    if piece:
        yield piece


def _split_words(text: str, count: TokenCounter, limit: int) -> list[str]:
    """Greedy word packing for a span with no usable sentence boundary."""
    words = text.split()
    if not words:
        return []
    sizes = [size for _, size in _sized(count, words, limit)]
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
    # The first width comes from a sample: a megabyte of base64 has no spaces, and counting it whole
    # would cost memory for nothing (for words up to the sample's size this is the whole word).
    sample = word[: limit * 8]
    width = max(1, len(sample) * limit // max(1, count([sample])[0]))
    while True:
        pieces = [word[i : i + width] for i in range(0, len(word), width)]
        if width == 1 or max(_count(count, pieces)) <= limit:
            return pieces
        width = max(1, width * 3 // 4)


def split_units(text: str, count: TokenCounter, limit: int) -> list[tuple[str, int]]:
    """Cut text into units of at most ``limit`` tokens along the strongest boundary available."""
    return list(_units(text, count, limit))


def _units(text: str, count: TokenCounter, limit: int) -> Iterator[tuple[str, int]]:
    # One at a time: a 100 MB text file is one paragraph of millions of lines.
    for paragraph, size in _sized(count, _pieces(PARAGRAPH_BREAK, text), limit):
        if size <= limit:
            yield paragraph, size
            continue
        for sentence, sentence_size in _sized(count, _pieces(CHUNK_SENTENCE_END, paragraph), limit):
            if sentence_size <= limit:
                yield sentence, sentence_size
            else:
                pieces = _split_words(sentence, count, limit)
                yield from zip(pieces, _count(count, pieces))


def _pack(units: Iterable[tuple[str, int]], plan: ChunkingPlan) -> Iterator[str]:
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
# Running notices are short; the key of a longer paragraph is never computed (for a 100 MB
# one-paragraph text file it would cost gigabytes).
_BOILERPLATE_MAX_CHARS = 10_000


def drop_boilerplate(sections: Sequence[Section]) -> list[Section]:
    """Keep only the first copy of a paragraph repeated across many sections (a notice on every page)."""
    if len(sections) < _BOILERPLATE_SECTIONS:
        return list(sections)
    seen_in: dict[str, set[int]] = {}
    split = [[p for p in PARAGRAPH_BREAK.split(section.text)] for section in sections]
    for index, paragraphs in enumerate(split):
        for paragraph in paragraphs:
            if len(paragraph) > _BOILERPLATE_MAX_CHARS:
                continue
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
            key = near_duplicate_key(paragraph) if len(paragraph) <= _BOILERPLATE_MAX_CHARS else ""
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
    return list(iter_chunks(sections, title, count, plan))


def iter_chunks(sections: Sequence[Section], title: str, count: TokenCounter, plan: ChunkingPlan) -> Iterator[Chunk]:
    """``chunk_sections``, one chunk at a time, so a huge document need not be held as chunks."""
    context_sizes: dict[tuple[str, ...], tuple[str, int]] = {}
    # Digests, not the keys: a document of a million chunks would otherwise hold its text twice more.
    seen: set[bytes] = set()
    ordinal = 0
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
        for text in _pack(_units(section.text, count, limit), section_plan):
            key = hashlib.blake2b(near_duplicate_key(text).encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if key in seen:
                continue
            seen.add(key)
            yield Chunk(text=text, page=section.page, headings=section.headings, context=context, ordinal=ordinal)
            ordinal += 1


def context_line(title: str, headings: Sequence[str]) -> str:
    """The document title and heading path that are embedded with a chunk."""
    parts = [title] if title else []
    parts += [h for h in headings if h and h != title]
    return " > ".join(parts)
