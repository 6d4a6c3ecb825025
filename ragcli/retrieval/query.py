"""What a question asks the keyword indexes: FTS5 expressions for words and for CJK character
pairs, and the terms the index never saw."""

from __future__ import annotations

from typing import Callable, Sequence

from ragcli.errors import UsageError
from ragcli.vocabulary import IDENTIFIER, QUERY_STOPWORDS, WORD, cjk_grams


def require_text(text: str, what: str = "query") -> str:
    """``text`` stripped; a blank query or question is a usage error, not a search for nothing."""
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"the {what} is empty", hint=f"Give the {what} as the argument, e.g. `rag {'ask' if what == 'question' else 'search'} \"...\"`.")
    return stripped


def lexical_query(text: str) -> str:
    """An FTS5 query matching any meaningful term of ``text`` (BM25 ranks the rest).

    Identifiers written with inner punctuation (``--force-with-lease``,
    ``git-ls-tree``, ``set.key``) also go in as an exact phrase, so chunks that
    spell them out outrank chunks that merely share their parts.
    """
    terms: list[str] = []
    for identifier in IDENTIFIER.findall(text):
        words = WORD.findall(identifier.lower())
        phrase = " ".join(words)
        if len(words) > 1 and phrase not in terms:
            terms.append(phrase)
    for term in WORD.findall(text.lower()):
        if term not in QUERY_STOPWORDS and term not in terms:
            terms.append(term)
    return " OR ".join(f'"{term}"' for term in terms)


def cjk_query(text: str) -> str:
    """An FTS5 query for the CJK index matching any character pair of the CJK text in ``text``
    ("" when it has none, so a question without CJK never consults that index). BM25 gives the
    pairs of the question's particles and endings (する, ます, 的) little weight: they are everywhere."""
    return " OR ".join(f'"{gram}"' for gram in dict.fromkeys(cjk_grams(text)))


def unknown_terms(terms: Sequence[str], has_phrase: Callable[[list[str]], bool]) -> list[str]:
    """The ``terms`` that no chunk contains, matched as the full-text index tokenizes them."""
    missing: list[str] = []
    for term in terms:
        words = WORD.findall(term.lower())
        if words and not has_phrase(words):
            missing.append(term)
    return missing
