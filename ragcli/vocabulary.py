"""The text vocabulary every stage shares: words and terms, sentence ends, citation markers, stopwords.

Pure definitions over strings. Where two stages need a different rule for the same idea, the
variant has its own name here and a line saying why, so that the difference is a decision and
not an accident.
"""

from __future__ import annotations

import re
import string

# -- words and terms ------------------------------------------------------

# A run of word characters: a word as the full-text index (unicode61) and the fakes see it.
WORD = re.compile(r"\w+", re.UNICODE)
# Word characters joined by - _ . : / (an option, a config key, a dotted name, a path): searched
# as one phrase, so chunks that spell an identifier out outrank chunks that merely share its parts.
IDENTIFIER = re.compile(r"\w+(?:[-_.:/]+\w+)+", re.UNICODE)
# The terms an answer claims, identifiers kept whole: --force-with-lease, dev.azure.com,
# ~/.git-credentials and 0.02 are one term each, so a claim must find the whole identifier.
TERM = re.compile(r"(?:--?|~/\.?|\.)?\w[\w.\-/@~%:]*\w|\w")
# Variant for pointing words in conversation: the apostrophe keeps "it's" one word.
CONVERSATION_WORD = re.compile(r"[\w']+")
# A run of Chinese, Japanese or Korean script (Han, kana, Hangul, half-width katakana). These
# languages do not put spaces between words, so to the full-text index (unicode61) a whole run
# is one word and a search for any word inside it finds nothing.
CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]+"
)


def cjk_grams(text: str) -> list[str]:
    """The overlapping character pairs of each CJK run ("全文検索" -> 全文 文検 検索; a lone
    character stands for itself): the words of CJK text as the CJK full-text index sees them.
    Pairs rather than triples: most Chinese and Japanese words are two characters long
    (benchmarks/RESULTS.md, "More formats, HTML through beautifulsoup4, CJK, watch")."""
    grams: list[str] = []
    for run in CJK_RUN.findall(text):
        grams += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    return grams


# -- stopwords --------------------------------------------------------------

_FUNCTION_WORDS = frozenset(
    "a an and are as at be by can could do does for from how i if in into is it its no not of on or so than that "
    "the their then there this to use used using was what when where which who why will with would you your".split()
)
# Answer claims: also quantifiers and auxiliaries, and the words an answer uses about itself and
# its sources ("the document says", "the answer is"), none of which a passage has to repeat.
CLAIM_STOPWORDS = _FUNCTION_WORDS | frozenset(
    "all also answer any been both document documents each has have just may might more most must one only other "
    "question same some source sources such these those very were while yes".split()
)
# Keyword queries: also the words of asking ("I want", "should my"), which only dilute BM25. The
# quantifiers above stay in: BM25's weights already discount them, and the retrieval table
# (benchmarks/RESULTS.md, "Retrieval pipelines") was measured with this list.
QUERY_STOPWORDS = _FUNCTION_WORDS | frozenset("get me my should them they want".split())


def question_terms(question: str) -> list[str]:
    """The question's words worth looking up in the index, in order, each once."""
    found = [w for w in WORD.findall(question) if len(w) >= 3 and w.lower() not in CLAIM_STOPWORDS]
    return list(dict.fromkeys(found))


# -- sentence ends --------------------------------------------------------

# Sentences of an answer: a model writes full sentences, so a boundary needs the next one to
# start like a sentence (capital, quote, code or bracket); "e.g. the" and "v2.1 is" stay whole.
ANSWER_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[])|\n+")
# Variant for passages read against an answer: documentation ends clauses with ";" and ":" too
# ("Default: 10"), and one answer sentence usually condenses one such clause.
CLAUSE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
# Variant for cutting chunks: clause ends as above, but only before a capital, digit, option or
# tag, so a line break inside a sentence does not cut it; a single newline is a boundary.
# Changing it changes every index's chunks (parsing.PARSER_REVISION).
CHUNK_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[]?[A-Z0-9<`\-])|\n")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """The sentences of an answer (``ANSWER_SENTENCE_END``)."""
    return [s.strip() for s in ANSWER_SENTENCE_END.split(text) if s and s.strip()]


def split_complete(text: str) -> tuple[list[str], str]:
    """Streamed answer text as finished sentences and the unfinished rest."""
    boundaries = list(ANSWER_SENTENCE_END.finditer(text))
    if not boundaries:
        return [], text
    last = boundaries[-1]
    return split_sentences(text[: last.start()]), text[last.end() :]


def split_prose_sentences(text: str) -> list[str]:
    """The sentences of a passage as a reader quotes them. Variant of ``split_sentences``: a single
    line break is not a boundary (PDF text breaks its lines anywhere), a blank line is."""
    sentences = []
    for paragraph in PARAGRAPH_BREAK.split(text):
        sentences += split_sentences(" ".join(paragraph.split()))
    return sentences


def split_clauses(text: str) -> list[str]:
    """The sentences and clauses of a passage (``CLAUSE_END``)."""
    return [s.strip() for s in CLAUSE_END.split(text) if s and s.strip()]


# -- citation markers -------------------------------------------------------

# "[2]" or "[1, 3]": how answers point at their numbered sources.
CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_CITATION_WITH_SPACE = re.compile(r"\s*" + CITATION.pattern)
# The closing punctuation of a sentence, where its citation goes in front of.
SENTENCE_CLOSE = re.compile(r"[.!?]*$")


def citation_numbers(text: str) -> list[int]:
    """The source numbers ``text`` cites, in order of first mention, each once."""
    numbers: list[int] = []
    for group in CITATION.findall(text):
        for number in group.split(","):
            value = int(number)
            if value not in numbers:
                numbers.append(value)
    return numbers


def strip_citations(text: str) -> str:
    """``text`` without its citation markers (and the space before each)."""
    return _CITATION_WITH_SPACE.sub("", text)


# -- normal forms -------------------------------------------------------------

def normalise(text: str) -> str:
    """Case and spacing folded: how a gold answer is found in an answer."""
    return " ".join(text.lower().split())


def same_sentence_key(sentence: str) -> str:
    """What two sentences share when one repeats the other: words without citation markers, case or spacing."""
    return normalise(strip_citations(sentence))


_PUNCTUATION_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})


def near_duplicate_key(text: str) -> str:
    """Texts that differ only in case, spacing or punctuation share a key (numbers count: tables differ in them)."""
    return " ".join(text.lower().translate(_PUNCTUATION_TO_SPACE).split())


# -- scripts ------------------------------------------------------------------

# Scripts a question can be written in that an English answer plainly does not match.
_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "THAI")


def script_of(text: str) -> str:
    """The non-Latin script most of ``text``'s letters are in ("" for Latin or no letters)."""
    import unicodedata

    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        name = unicodedata.name(ch, "")
        script = next((s for s in _SCRIPTS if name.startswith(s)), "")
        if script:
            # Japanese mixes kana and kanji, Korean may too: one script as far as answering goes.
            script = {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE"}.get(script, script)
            counts[script] = counts.get(script, 0) + 1
    if not counts or sum(counts.values()) * 10 < letters * 3:
        return ""
    return max(counts, key=counts.get)
