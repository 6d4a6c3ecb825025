"""The claim rules: what an answer sentence asserts, and how much of it one passage holds.

Pure functions over text. A sentence's claims are the terms it adds to the question (its
identifiers whole, its words stemmed) and the spans it quotes; a passage supports it when it
holds every specific claim (identifier, number, path, quoted span) and, for plain prose, most
of its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ragcli.vocabulary import CLAIM_STOPWORDS, TERM, WORD, normalise, split_prose_sentences, strip_citations

# Quoted or backticked spans (e.g. "^{}", `@{-1}`) are claims to be found verbatim; they are
# kept among the term claims under this prefix, which no word token can start with.
_LITERAL_MARK = "\x00"
# A single quote after a letter is an apostrophe ("file's"), not the start of a quotation.
_LITERAL = re.compile(r"`([^`\n]{1,80})`|\"([^\"\n]{1,80})\"|(?<!\w)'([^'\n]{1,80})'(?!\w)")
# PDFs and typeset HTML quote with curly marks where an answer types straight ones: '<&n' must
# find ’<&n’.
_STRAIGHT_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                                  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"'})


def _stem(word: str) -> str:
    """Crude suffix folding so "lists"/"list" and "defined"/"define" meet; identifiers stay as they are."""
    if not word.isalpha() or len(word) <= 4:
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> set[str]:
    """Content terms: whole identifiers plus their word pieces, minus stopwords."""
    found: set[str] = set()
    for token in TERM.findall(text.lower()):
        token = token.rstrip(".:")
        if not token or token in CLAIM_STOPWORDS:
            continue
        found.add(_stem(token))
        for piece in WORD.findall(token):
            if piece not in CLAIM_STOPWORDS:
                found.add(_stem(piece))
    return found


# Words an answer uses to frame what it names ("the --tool=nvimdiff option", "use the command"),
# which documents rarely repeat next to the thing itself; they assert nothing to check.
_FRAMING = frozenset(
    _stem(word) for word in "option options flag flags command commands setting settings parameter parameters "
    "argument arguments value values specify specifies specified".split()
)


def _claim_terms(text: str) -> set[str]:
    """The terms a sentence asserts: whole tokens only, so an identifier must appear whole."""
    return {_stem(t.rstrip(".:")) for t in TERM.findall(text.lower())} - CLAIM_STOPWORDS - _FRAMING - {""}


def is_specific(term: str) -> bool:
    """Identifiers, numbers, paths and options: the terms an answer stands or falls by."""
    return not term.isalpha()


def support_of(claims: set[str], available: set[str]) -> float:
    """How well one passage backs a sentence's claims.

    Every specific term (option, value, path) must be there; plain words are
    paraphrase-prone, so with specific terms present they only add confidence.
    """
    specific = {t for t in claims if is_specific(t)}
    plain = claims - specific
    plain_share = len(plain & available) / len(plain) if plain else 1.0
    if specific:
        if not specific <= available:
            return 0.0
        return 0.9 + 0.1 * plain_share
    return plain_share


def straight_quotes(text: str) -> str:
    return text.translate(_STRAIGHT_QUOTES)


def _quotes(text: str, span: str) -> bool:
    """Whether ``text`` contains ``span`` as written and whole: `recent` is not in highlightRecent,
    nor `--count` in --counter."""
    start = r"(?<!\w)" if re.match(r"\w", span) else ""
    end = r"(?!\w)" if re.search(r"\w$", span) else ""
    return re.search(start + re.escape(span) + end, text) is not None


def _literals(sentence: str, question: str) -> set[str]:
    """Verbatim spans the sentence quotes that the question did not already contain.

    A command line with options in backticks (`git blame --color-by-age`) is the model composing a
    command from the page it read, not quoting it: its words are checked one by one as terms, like
    the rest of the sentence (so every option in it must still be in the passage). Quoted text and
    other code spans must appear as written.
    """
    asked = normalise(question)
    spans = set()
    for match in _LITERAL.finditer(sentence):
        code, *quoted = match.groups()
        span = normalise(next(g for g in (code, *quoted) if g is not None))
        if code is not None and " " in span and any(word.startswith("-") for word in span.split()):
            continue
        spans.add(span)
    return {span for span in spans if span and not _quotes(asked, span)}


@dataclass(frozen=True)
class Claims:
    """What one answer sentence asserts beyond the question: its terms, and verbatim spans."""

    sentence: str
    terms: set[str]
    literals: set[str]

    @property
    def empty(self) -> bool:
        return not self.terms


def claims_of(sentence: str, question: str) -> Claims:
    clean = straight_quotes(strip_citations(sentence))
    question = straight_quotes(question)
    literals = _literals(clean, question)
    claimed = (_claim_terms(clean) - terms(question)) | {_LITERAL_MARK + span for span in literals}
    return Claims(sentence, claimed, literals)


def passage_support(claims: Claims, passage: str) -> tuple[float, bool]:
    """The lexical support one passage gives, and whether it holds every specific claim
    (identifier, number, quoted span): without those a paraphrase check must not pass it."""
    text = normalise(straight_quotes(passage))
    found = terms(passage) | {_LITERAL_MARK + span for span in claims.literals if _quotes(text, span)}
    specific = {t for t in claims.terms if is_specific(t)}
    return support_of(claims.terms, found), specific <= found


def best_lexical_source(claims: Claims, passages: Sequence[str]) -> tuple[int | None, float]:
    """The 1-based number of the passage that backs ``claims`` best, and its support (None, 0.0 if none does)."""
    best, best_support = None, 0.0
    for number, passage in enumerate(passages, start=1):
        support, _ = passage_support(claims, passage)
        if support > best_support:
            best, best_support = number, support
    return best, best_support


def backing_clauses(sentence: str, question: str, passage: str, limit: int = 2) -> list[str]:
    """The sentences of ``passage`` that hold what ``sentence`` claims (at most ``limit``, in
    passage order): the one sharing most of its claims, then one for specific claims
    still missing. Whole sentences, not clauses: a reader checks a claim against a sentence."""
    claims = claims_of(sentence, question)
    clauses = split_prose_sentences(passage)
    if claims.empty or not clauses:
        return []
    found = [terms(clause) | {_LITERAL_MARK + s for s in claims.literals if _quotes(normalise(straight_quotes(clause)), s)} for clause in clauses]
    specific = {t for t in claims.terms if is_specific(t)}

    def weight(i: int, wanted: set[str]) -> tuple[int, int]:
        shared = found[i] & wanted
        return len(shared & specific), len(shared)

    chosen: list[int] = []
    wanted = set(claims.terms)
    while len(chosen) < limit:
        candidates = [i for i in range(len(clauses)) if i not in chosen]
        if not candidates:
            break
        best = max(candidates, key=lambda i: weight(i, wanted))
        if weight(best, wanted) == (0, 0) or (chosen and not (found[best] & wanted & specific)):
            break
        chosen.append(best)
        wanted -= found[best]
        if not wanted & specific:
            break
    return [clauses[i] for i in sorted(chosen)]
