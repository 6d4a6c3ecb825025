"""The embedding verifier: identifiers must be in the passage verbatim, prose may be paraphrased.

A small model restates "saves credentials in ~/.git-credentials" as "stores them in
~/.git-credentials"; the word check rejects that, the embedder's cosine does not.
Identifiers, numbers and quoted spans still have to appear in the passage, since an embedder
scores "--full-tree" and "--full-name" as near neighbours.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ragcli.answer.verify.claims import claims_of, passage_support
from ragcli.answer.verify.draft import SentenceCheck
from ragcli.vocabulary import split_clauses, strip_citations


def passage_windows(passage: str, width: int = 2) -> list[str]:
    """Runs of ``width`` consecutive clauses: an answer sentence usually condenses one or two."""
    sentences = split_clauses(passage)
    if len(sentences) <= width:
        return [" ".join(sentences)] if sentences else []
    return [" ".join(sentences[i : i + width]) for i in range(len(sentences) - width + 1)]


class EmbeddingVerifier:
    name = "embedding"
    streams = True

    def __init__(self, embedder, lexical_threshold: float, min_similarity: float) -> None:
        self.embedder = embedder
        self.lexical_threshold = lexical_threshold
        self.min_similarity = min_similarity
        self._cached_passages: tuple[str, ...] = ()
        self._cached_windows: list[np.ndarray] = []

    def _windows(self, passages: Sequence[str]) -> list[np.ndarray]:
        # One answer checks several sentences against the same passages: embed them once.
        key = tuple(passages)
        if key != self._cached_passages:
            windows = [passage_windows(p) or [p] for p in passages]
            flat = [w for group in windows for w in group]
            vectors = self.embedder.embed(flat) if flat else np.zeros((0, 1), dtype=np.float32)
            split, start = [], 0
            for group in windows:
                split.append(vectors[start : start + len(group)])
                start += len(group)
            self._cached_passages, self._cached_windows = key, split
        return self._cached_windows

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck:
        claims = claims_of(sentence, question)
        if claims.empty:
            return SentenceCheck(text=sentence, source=None, support=0.0, informative=False, method=self.name)
        lexical = [passage_support(claims, p) for p in passages]
        best_lexical = max(range(len(passages)), key=lambda i: lexical[i][0], default=None)
        if best_lexical is not None and lexical[best_lexical][0] >= self.lexical_threshold:
            # The words are there: no paraphrase to judge.
            return SentenceCheck(
                text=sentence, source=best_lexical + 1, support=lexical[best_lexical][0], informative=True, supported=True, method="lexical"
            )
        candidates = [i for i, (_, has_specifics) in enumerate(lexical) if has_specifics]
        if not candidates:
            return SentenceCheck(text=sentence, source=None, support=0.0, informative=True, supported=False, method=self.name)
        windows = self._windows(passages)
        query = self.embedder.embed([strip_citations(sentence)])[0]
        best, best_similarity = None, 0.0
        for i in candidates:
            if len(windows[i]) == 0:
                continue
            similarity = float(np.max(windows[i] @ query))
            if similarity > best_similarity:
                best, best_similarity = i + 1, similarity
        supported = best is not None and best_similarity >= self.min_similarity
        return SentenceCheck(text=sentence, source=best, support=best_similarity, informative=True, supported=supported, method=self.name)
