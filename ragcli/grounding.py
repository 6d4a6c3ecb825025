"""Check an answer against its passages and attach citations: pure functions over text.

A sentence is supported when most of what it adds to the question (its terms
that the question does not already contain) appears in one passage. Small
local models rarely cite reliably, so citations are attached here from that
evidence rather than trusted from the model; unsupported answers are abstained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

# Identifiers such as --force-with-lease, dev.azure.com, ~/.git-credentials or 0.02 stay whole.
_TERM = re.compile(r"(?:--?|~/\.?|\.)?\w[\w.\-/@~%:]*\w|\w")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[])|\n+")
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
# Quoted or backticked spans (e.g. "^{}", `@{-1}`) are claims to be found verbatim; they are
# kept among the term claims under this prefix, which no word token can start with.
_LITERAL_MARK = "\x00"
# A single quote after a letter is an apostrophe ("file's"), not the start of a quotation.
_LITERAL = re.compile(r"`([^`\n]{1,80})`|\"([^\"\n]{1,80})\"|(?<!\w)'([^'\n]{1,80})'(?!\w)")
# PDFs and typeset HTML quote with curly marks where an answer types straight ones: '<&n' must
# find ’<&n’.
_STRAIGHT_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                                  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"'})
_STOPWORDS = frozenset(
    "a an and are as at be been by can could do does for from has have how i if in into is it its may might "
    "must not of on or so such that the their then there these this those to use used using was were what when "
    "where which while who why will with would you your yes no also only just than other any all each both more "
    "most some same very one answer question source sources document documents".split()
)


@dataclass(frozen=True)
class SentenceCheck:
    text: str
    # 1-based number of the best supporting passage, or None.
    source: int | None
    support: float
    # False when the sentence only restates the question.
    informative: bool
    # The verifier's verdict (for the lexical check: support >= threshold).
    supported: bool = False
    # Which verifier decided ("lexical", "embedding", "llm").
    method: str = "lexical"


@dataclass(frozen=True)
class Verification:
    sentences: list[SentenceCheck]
    threshold: float

    @property
    def informative(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.informative]

    @property
    def supported(self) -> list[SentenceCheck]:
        return [s for s in self.informative if s.supported]

    @property
    def support_ratio(self) -> float:
        informative = self.informative
        return len(self.supported) / len(informative) if informative else 0.0

    def to_json(self) -> dict:
        return {
            "sentences": len(self.informative),
            "supported": len(self.supported),
            "support_ratio": round(self.support_ratio, 3),
            "unsupported": [s.text for s in self.informative if not s.supported],
            "per_sentence": [
                {"text": s.text, "supported": s.supported, "support": round(s.support, 3), "source": s.source, "method": s.method}
                for s in self.informative
            ],
        }


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
    for token in _TERM.findall(text.lower()):
        token = token.rstrip(".:")
        if not token or token in _STOPWORDS:
            continue
        found.add(_stem(token))
        for piece in re.findall(r"\w+", token):
            if piece not in _STOPWORDS:
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
    return {_stem(t.rstrip(".:")) for t in _TERM.findall(text.lower())} - _STOPWORDS - _FRAMING - {""}


def unfamiliar_names(question: str, unknown: Sequence[str], passages: Sequence[str] = ()) -> list[str]:
    """Of the question's terms unknown to the index, those that look like names (GitLab, Sigstore,
    WebP, XLSX), less acronyms that the retrieved ``passages`` write out in full."""
    first_word = (re.findall(r"\w+", question) or [""])[0]
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


def question_terms(question: str) -> list[str]:
    """The question's words worth looking up in the index."""
    words = [w for w in re.findall(r"\w+", question) if len(w) >= 3 and w.lower() not in _STOPWORDS]
    return list(dict.fromkeys(words))


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


def split_sentences(answer: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(answer) if s and s.strip()]


def split_complete(text: str) -> tuple[list[str], str]:
    """Split streamed text into finished sentences and the unfinished rest."""
    boundaries = list(_SENTENCE.finditer(text))
    if not boundaries:
        return [], text
    last = boundaries[-1]
    return split_sentences(text[: last.start()]), text[last.end() :]


def _literals(sentence: str, question: str) -> set[str]:
    """Verbatim spans the sentence quotes that the question did not already contain.

    A command line with options in backticks (`git blame --color-by-age`) is the model composing a
    command from the page it read, not quoting it: its words are checked one by one as terms, like
    the rest of the sentence (so every option in it must still be in the passage). Quoted text and
    other code spans must appear as written.
    """
    asked = " ".join(question.lower().split())
    spans = set()
    for match in _LITERAL.finditer(sentence):
        code, *quoted = match.groups()
        span = " ".join(next(g for g in (code, *quoted) if g is not None).lower().split())
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


def straight_quotes(text: str) -> str:
    return text.translate(_STRAIGHT_QUOTES)


def claims_of(sentence: str, question: str) -> Claims:
    clean = straight_quotes(_CITATION.sub("", sentence))
    question = straight_quotes(question)
    literals = _literals(clean, question)
    claimed = (_claim_terms(clean) - terms(question)) | {_LITERAL_MARK + span for span in literals}
    return Claims(sentence, claimed, literals)


def passage_support(claims: Claims, passage: str) -> tuple[float, bool]:
    """The lexical support one passage gives, and whether it holds every specific claim
    (identifier, number, quoted span): without those a paraphrase check must not pass it."""
    text = " ".join(straight_quotes(passage).lower().split())
    found = terms(passage) | {_LITERAL_MARK + span for span in claims.literals if _quotes(text, span)}
    specific = {t for t in claims.terms if is_specific(t)}
    return support_of(claims.terms, found), specific <= found


def _quotes(text: str, span: str) -> bool:
    """Whether ``text`` contains ``span`` as written and whole: `recent` is not in highlightRecent,
    nor `--count` in --counter."""
    start = r"(?<!\w)" if re.match(r"\w", span) else ""
    end = r"(?!\w)" if re.search(r"\w$", span) else ""
    return re.search(start + re.escape(span) + end, text) is not None


def check_sentence(sentence: str, question: str, passages: Sequence[str], threshold: float) -> SentenceCheck:
    """The lexical check of one sentence against every passage; the best passage is its source."""
    claims = claims_of(sentence, question)
    if claims.empty:
        return SentenceCheck(sentence, None, 0.0, informative=False)
    best, best_support = None, 0.0
    for number, passage in enumerate(passages, start=1):
        support, _ = passage_support(claims, passage)
        if support > best_support:
            best, best_support = number, support
    return SentenceCheck(sentence, best, best_support, informative=True, supported=best_support >= threshold)


def verify(answer: str, question: str, passages: Sequence[str], threshold: float) -> Verification:
    """Score each answer sentence against the passages (the lexical check)."""
    return Verification([check_sentence(s, question, passages, threshold) for s in split_sentences(answer)], threshold)


def same_sentence_key(sentence: str) -> str:
    """What two sentences share when one repeats the other: the words, without citation markers,
    case or spacing."""
    return " ".join(_CITATION.sub("", sentence).lower().split())


def cite(verification: Verification) -> str:
    """The answer with each supported sentence cited to the passage that supports it.

    The model's own markers are replaced: small models cite by position, not by evidence.
    """
    parts: list[str] = []
    for check in verification.sentences:
        text = check.text
        if check.informative and check.supported and check.source:
            text = _CITATION.sub("", text).rstrip()
            match = re.search(r"[.!?]*$", text)
            end = match.start() if match else len(text)
            text = f"{text[:end]} [{check.source}]{text[end:]}"
        parts.append(text)
    return " ".join(parts)
