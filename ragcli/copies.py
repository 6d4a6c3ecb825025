"""Near-duplicate documents: the same text under two names (a page as .html and as its .txt
source, one PDF copied into two folders) is indexed once, and the copy reported.

Each document gets a sketch: the hashes of its five-word sequences, sampled by value (one in
eight, at most 512 of the smallest), so that the share of one sketch found in another estimates
the share of one text's sequences found in the other (Broder's sampling; containment rather than
resemblance, because a .txt source that leaves its includes out is still a copy of its page).
A new document is a copy of an indexed one with the same title when most of *its* text is in
that one's (so it never hides a document that adds text of its own), or of any indexed one when
the two hold the same text both ways. Titles matter because pages built from shared parts (git's
diff-files and diff-index pages are mostly the same option list) are different pages; measured
on git-doc in benchmarks/RESULTS.md, "Near-duplicate documents".
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable, Sequence

_WORD = re.compile(r"\w+")
_SHINGLE = 5
_SAMPLE = 8
_KEEP = 512
# Both ways at least this share: the same text, whatever the titles say.
SAME_TEXT = 0.99
# Fewer sampled sequences than this (a text of about 150 words or less) is too little to call a copy.
MIN_SKETCH = 12


def sketch(texts: Iterable[str]) -> list[int]:
    """The document's sampled sequence hashes (signed 64-bit, as SQLite stores integers), sorted."""
    words = [w.lower() for text in texts for w in _WORD.findall(text)]
    sampled = set()
    for start in range(max(0, len(words) - _SHINGLE + 1)):
        digest = hashlib.blake2b(" ".join(words[start:start + _SHINGLE]).encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big", signed=True)
        if value % _SAMPLE == 0:
            sampled.add(value)
    return sorted(sampled)[:_KEEP]


def contained(part: Sequence[int], whole: Sequence[int]) -> float:
    """The share of sketch ``part``'s text found in ``whole``'s. A sketch cut at ``_KEEP`` holds
    only the smallest sampled values, so only the values of ``part`` below the largest of a cut
    ``whole`` can be looked for in it."""
    if len(whole) >= _KEEP:
        part = [value for value in part if value <= whole[-1]]
    if len(part) < MIN_SKETCH:
        return 0.0  # too little of it to tell
    present = set(whole)
    return sum(1 for value in part if value in present) / len(part)


def _title_key(title: str) -> str:
    return " ".join(title.lower().split())


def repeats(ours: Sequence[int], our_title: str, theirs: Sequence[int], their_title: str, share: float) -> float:
    """How much of our text is in theirs, when that makes ours a copy of theirs (else 0)."""
    found = contained(ours, theirs)
    if _title_key(our_title) and _title_key(our_title) == _title_key(their_title) and found >= share:
        return found
    if found >= SAME_TEXT and contained(theirs, ours) >= SAME_TEXT:
        return found
    return 0.0
