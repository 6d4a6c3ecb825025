"""A cheap deterministic embedder for tests: signed feature hashing of words."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from ragcli.vocabulary import WORD

# Variant of vocabulary.WORD for counting: punctuation counts as a token, as in a real tokenizer.
_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashEmbedder:
    id = "hash-v1"
    dimension = 256
    max_tokens = 128

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(text)) for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                vectors[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms
