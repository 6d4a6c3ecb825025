"""The one way ragcli loads a sentence-transformers folder: offline, quietly, on a chosen device."""

from __future__ import annotations

import os
from pathlib import Path

from ragcli.errors import ModelError


def import_sentence_transformers():
    """The sentence_transformers module, set up so that the hub is never contacted and nothing is logged."""
    # The hub must never be contacted at run time; these make any attempt fail fast.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
    except ImportError:
        raise ModelError("sentence-transformers is not installed", hint="pip install sentence-transformers") from None
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    return sentence_transformers


def load_sentence_transformer(folder: Path, device: str, *, cross_encoder: bool = False, setting: str = "embedding.model"):
    """A SentenceTransformer (or, with ``cross_encoder``, a CrossEncoder) from a local folder."""
    module = import_sentence_transformers()
    kind = module.CrossEncoder if cross_encoder else module.SentenceTransformer
    try:
        return kind(str(folder), device=device, local_files_only=True)
    except Exception as exc:  # the library raises many types for a folder it cannot read
        what = "CrossEncoder" if cross_encoder else "sentence-transformers model"
        raise ModelError(
            f"cannot load the {what} in {folder}: {exc}",
            hint=f"Point {setting} at a folder saved with {'CrossEncoder' if cross_encoder else 'SentenceTransformer'}.save().",
        ) from exc


def embedding_dimension(model) -> int:
    """The vector size of a loaded SentenceTransformer (the method was renamed in sentence-transformers 5)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())
