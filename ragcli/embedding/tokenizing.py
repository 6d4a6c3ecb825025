"""The model's own tokenizer through the `tokenizers` library: fast to load, no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.errors import ModelError


class FastTokenizer:
    """Counts tokens for chunking and encodes padded batches for ONNX Runtime."""

    def __init__(self, tokenizer_file: Path, max_seq_length: int, do_lower_case: bool = False, *, read_tokens: int = 0) -> None:
        """``read_tokens``: encode only each text's first so many tokens (0: up to max_seq_length);
        counting always sees every token."""
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ModelError("the tokenizers package is not installed", hint="pip install tokenizers") from None
        try:
            self._encoder = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:
            raise ModelError(f"cannot load the tokenizer {tokenizer_file}: {exc}", hint="Reinstall or re-save the model folder.") from exc
        self._file = tokenizer_file
        self._counter = None
        # The file may carry its own truncation/padding (MiniLM's says 128): encoding follows
        # sentence-transformers (truncate to max_seq_length, pad to the longest text of the batch).
        self._encoder.enable_truncation(max_seq_length)
        configured = self._encoder.padding or {}
        pad_id = configured.get("pad_id", self._encoder.token_to_id("[PAD]") or 0)
        pad_token = configured.get("pad_token", "[PAD]")
        # Padded positions are masked out of attention and pooling, so the pad id only has to exist.
        self._encoder.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._lower = do_lower_case
        self.special_tokens = len(self._encoder.encode("", add_special_tokens=True).ids)
        self.read_tokens = min(read_tokens, max_seq_length - self.special_tokens) if read_tokens else max_seq_length - self.special_tokens
        if read_tokens:
            self._encoder.enable_truncation(self.read_tokens + self.special_tokens)

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        return [text.lower() for text in texts] if self._lower else list(texts)

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.token_ids(texts)]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Every token of each text, without special tokens, truncation or padding."""
        if not texts:
            return []
        if self._counter is None:
            # A second copy that neither truncates nor pads: chunking must see every token.
            from tokenizers import Tokenizer

            self._counter = Tokenizer.from_file(str(self._file))
            self._counter.no_truncation()
            self._counter.no_padding()
        return [e.ids for e in self._counter.encode_batch(self._prepare(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """input_ids, attention_mask and token_type_ids, int64, padded to the batch's longest text."""
        encodings = self._encoder.encode_batch(self._prepare(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
