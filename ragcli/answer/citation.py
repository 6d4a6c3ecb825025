"""Citations: a kept sentence cited to the passage that backs it, and the sources an answer lists.

Small local models rarely cite reliably (they cite by position, not by evidence), so the
model's own markers are replaced by the verifier's choice of passage.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from ragcli.records import Hit, Source
from ragcli.vocabulary import CITATION, SENTENCE_CLOSE, citation_numbers, strip_citations

if TYPE_CHECKING:
    from ragcli.answer.verify.draft import SentenceCheck


def cite(check: "SentenceCheck", number: int | None = None) -> str:
    """A supported sentence with its own markers replaced by ``[n]`` (``number``, by default the
    number of the passage that backs it), placed before the closing punctuation."""
    text = check.text
    if not (check.informative and check.supported and check.source):
        return text
    text = strip_citations(text).rstrip()
    end = SENTENCE_CLOSE.search(text).start()
    return f"{text[:end]} [{number or check.source}]{text[end:]}"


def drop_invalid_citations(answer: str, source_count: int) -> str:
    """Remove [n] markers that point to no source."""

    def keep_valid(match: re.Match) -> str:
        valid = [n.strip() for n in match.group(1).split(",") if 1 <= int(n) <= source_count]
        return f"[{', '.join(valid)}]" if valid else ""

    return CITATION.sub(keep_valid, answer)


def sources_of(hits: Sequence[Hit], answer: str, numbers: dict[int, int] | None = None,
               evidence: dict[int, list[str]] | None = None) -> list[Source]:
    """The passages an answer drew on, as it numbers them (``numbers``: prompt position -> shown
    number; default the prompt's own), sorted by that number, each marked cited when the answer
    cites it and carrying the clauses that back what it says (``evidence``, by prompt position)."""
    cited = set(citation_numbers(answer))
    numbers = numbers or {n: n for n in range(1, len(hits) + 1)}
    evidence = evidence or {}
    sources = [
        Source(n=numbers[n], hit=hit, cited=numbers[n] in cited, evidence=tuple(evidence.get(n, ())))
        for n, hit in enumerate(hits, start=1)
    ]
    return sorted(sources, key=lambda source: source.n)
