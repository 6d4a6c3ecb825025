"""The evidence gate: abstain before the model runs when the passages cannot answer the question.

Answering without evidence would only invite the model to make things up. The gate abstains
when nothing was retrieved, when no passage is similar enough (``answer.min_similarity``), or
when the question names something no indexed chunk mentions (``answer.unknown_names``).
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ragcli.config import AnswerSettings
from ragcli.records import Hit
from ragcli.vocabulary import WORD, question_terms


def evidence_gap(
    question: str, hits: Sequence[Hit], options: AnswerSettings, unknown_terms: Callable[[list[str]], list[str]]
) -> str:
    """Why the retrieved evidence cannot answer ``question``, or "" if it might.

    ``unknown_terms`` tells which of some terms no indexed chunk contains (``Searcher.unknown_terms``).
    """
    if not hits:
        return "no passages found"
    best = max((hit.similarity for hit in hits if hit.similarity is not None), default=None)
    if best is not None and best < options.min_similarity:
        return f"best passage similarity {best:.2f} is below answer.min_similarity"
    if options.unknown_names:
        names = unfamiliar_names(question, unknown_terms(question_terms(question)), [hit.text for hit in hits])
        if names:
            return "the documents never mention " + ", ".join(names)
    return ""


def unfamiliar_names(question: str, unknown: Sequence[str], passages: Sequence[str] = ()) -> list[str]:
    """Of the question's terms unknown to the index, those that look like names (GitLab, Sigstore,
    WebP, XLSX), less acronyms that the retrieved ``passages`` write out in full."""
    first_word = (WORD.findall(question) or [""])[0]
    return [
        term for term in unknown
        if term != first_word and any(ch.isupper() for ch in term) and not spelled_out(term, passages)
    ]


def spelled_out(name: str, texts: Sequence[str]) -> bool:
    """Whether an acronym the index never uses (CDF) is written out in one of ``texts``
    ("cumulative distribution function"): documents often name a thing only in full."""
    if not (name.isalpha() and name.isupper() and 2 <= len(name) <= 6):
        return False
    words = r"[\s-]+".join(rf"{letter}[a-z]+" for letter in name.lower())
    pattern = re.compile(rf"\b{words}\b", re.IGNORECASE)
    return any(pattern.search(text) for text in texts)
