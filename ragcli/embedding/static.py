"""A static embedder distilled once from the sentence-transformers folder: one vector per token,
a text's vector the weighted mean of its tokens' vectors.

This is model2vec's distillation (Tulkens and van Dongen, 2024): each vocabulary token is run
through the model alone, the token vectors are reduced by PCA, and frequent tokens are weighted
down (SIF, with token rank standing in for frequency). Embedding a passage then costs a table
lookup instead of six transformer layers; what that gains in ingest speed and costs in retrieval
(more than configs/fast.toml, which is why it is not that profile) is in benchmarks/RESULTS.md,
"Ingest profiles".

Written by hand rather than with model2vec's `distill` extra: that extra pins transformers below
the version sentence-transformers here needs (installing it broke `import transformers`), and the
method is a forward pass, an SVD and a weight per token. The table is stored as .npy (loaded with
allow_pickle=False) in cache_dir, keyed by the folder's fingerprint, and written atomically, so a
killed distillation leaves nothing half-made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ragcli.durable import atomic_write
from ragcli.embedding.model_folder import ModelFolder, make_cache_dir
from ragcli.embedding.tokenizing import FastTokenizer
from ragcli.errors import ModelError

# Bumped when the distillation changes, so old tables are ignored.
STATIC_VERSION = 1
# model2vec's defaults: 256 PCA dimensions and a SIF coefficient of 1e-4.
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
# Tokens a BERT vocabulary keeps for fine-tuning; never produced by the tokenizer.
_UNUSED = re.compile(r"^\[unused\d+\]$")
_BATCH = 512


def static_cache_dir(cache_dir: Path, folder: ModelFolder) -> Path:
    return cache_dir / "static" / f"{folder.path.name}-{folder.fingerprint}-v{STATIC_VERSION}"


def static_table_file(cache_dir: Path, folder: ModelFolder, device: str = "cpu") -> Path:
    """The cached token table for this folder, distilled first if missing (once per machine)."""
    target = static_cache_dir(cache_dir, folder) / "tokens.npy"
    if target.is_file():
        return target
    make_cache_dir(target.parent)
    table = distill(folder, device)
    with atomic_write(target) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, table, allow_pickle=False)
    return target


def token_vectors(folder: ModelFolder, device: str = "cpu") -> np.ndarray:
    """Each vocabulary token's sentence vector from the model, as if the token were the whole text
    (zeros for tokens the tokenizer never emits)."""
    import torch

    from ragcli.models.sentence_transformers import load_sentence_transformer

    model = load_sentence_transformer(folder.path, device)
    tokenizer = model.tokenizer
    vocabulary = tokenizer.get_vocab()
    size = max(vocabulary.values()) + 1
    special = set(tokenizer.all_special_ids)
    wanted = sorted(i for token, i in vocabulary.items() if i not in special and not _UNUSED.match(token))
    start, end = tokenizer.cls_token_id, tokenizer.sep_token_id
    if start is None or end is None:
        start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    table = None
    model.eval()
    with torch.inference_mode():
        for offset in range(0, len(wanted), _BATCH):
            ids = torch.tensor(wanted[offset : offset + _BATCH], dtype=torch.long, device=model.device)[:, None]
            parts = [ids] if start is None or end is None else [torch.full_like(ids, start), ids, torch.full_like(ids, end)]
            input_ids = torch.cat(parts, dim=1)
            features = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
            if "token_type_ids" in getattr(tokenizer, "model_input_names", ()):
                features["token_type_ids"] = torch.zeros_like(input_ids)
            vectors = model(features)["sentence_embedding"].float().cpu().numpy()
            if table is None:
                table = np.zeros((size, vectors.shape[1]), dtype=np.float32)
            table[wanted[offset : offset + _BATCH]] = vectors
    if table is None:
        raise ModelError(f"the tokenizer of {folder.path} has no ordinary tokens to distill", hint="Use embedding.backend = \"onnx\" for this model.")
    return table


def reduce(table: np.ndarray, dims: int = PCA_DIMS, sif: float = SIF_COEFFICIENT) -> np.ndarray:
    """PCA of the token vectors (fitted on the tokens the model produced) then SIF weights by rank.

    Token ids stand in for frequency ranks, as in model2vec: BERT-style vocabularies list the
    common pieces first."""
    used = np.flatnonzero(np.abs(table).sum(axis=1) > 0)
    dims = min(dims, table.shape[1], len(used))
    rows = table[used].astype(np.float64)
    mean = rows.mean(axis=0)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    reduced = np.zeros((table.shape[0], dims), dtype=np.float64)
    reduced[used] = (rows - mean) @ vt[:dims].T
    rank = np.arange(1, table.shape[0] + 1, dtype=np.float64)
    probability = (1 / rank) / (1 / rank).sum()
    reduced *= (sif / (sif + probability))[:, None]
    return reduced.astype(np.float32)


def distill(folder: ModelFolder, device: str = "cpu") -> np.ndarray:
    return reduce(token_vectors(folder, device))


class StaticEmbedder:
    """Embeds a text as the mean of its tokens' rows in the distilled table, L2-normalised."""

    def __init__(self, table_file: Path, folder: ModelFolder, tokenizer: FastTokenizer, *, model_id: str) -> None:
        try:
            self._table = np.load(table_file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the static embedding table {table_file}: {exc}", hint=f"Delete {table_file.parent} so it is distilled again.") from exc
        self._tokenizer = tokenizer
        self.id = model_id
        self.dimension = int(self._table.shape[1])
        self.max_tokens = folder.max_seq_length - tokenizer.special_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._tokenizer.count(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, ids in enumerate(self._tokenizer.token_ids(texts)):
            ids = [i for i in ids[: self._tokenizer.read_tokens] if i < len(self._table)]
            if ids:
                out[row] = self._table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
