"""What a sentence-transformers model folder says about itself, read from its JSON files alone.

Reading these files costs milliseconds, so the embedder's identity, dimension and
window are known (and an index can be opened or refused) without importing torch
or onnxruntime or loading any weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import ModelError
from ragcli.models.folders import folder_fingerprint

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_FLAGS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint="The model folder looks damaged; reinstall or re-save it.") from exc


@dataclass(frozen=True, kw_only=True)
class ModelFolder:
    """The parts of a sentence-transformers folder that embedding needs, without its weights."""

    path: Path
    fingerprint: str
    dimension: int
    max_seq_length: int
    do_lower_case: bool
    # Pooling mode as sentence-transformers names it ("mean", "cls", "max", ...).
    pooling: str
    normalize: bool
    # Module types after the transformer other than pooling and normalisation (Dense, ...).
    extra_modules: tuple[str, ...]
    tokenizer_file: Path | None

    def default_id(self) -> str:
        return f"sentence-transformers:{self.path.name}:{self.fingerprint}"


def describe_folder(folder: Path) -> ModelFolder:
    """Read a sentence-transformers folder's configuration; raise ModelError if it is not one."""
    folder = folder.resolve()
    modules = _read_json(folder / "modules.json")
    config = _read_json(folder / "config.json")
    if not isinstance(config, dict):
        raise ModelError(
            f"{folder} is not a sentence-transformers model folder (no config.json)",
            hint="Point embedding.model at a folder saved with SentenceTransformer.save().",
        )
    if not isinstance(modules, list):
        # A bare transformers folder: sentence-transformers applies mean pooling to it.
        modules = [{"path": "", "type": _TRANSFORMER}]
    pooling = "mean"
    normalize = False
    extra: list[str] = []
    pooling_dimension = None
    for module in modules:
        kind = module.get("type", "")
        if kind == _TRANSFORMER:
            continue
        if kind == _POOLING:
            pooling_config = _read_json(folder / module.get("path", "") / "config.json") or {}
            modes = [name for flag, name in _POOLING_FLAGS.items() if pooling_config.get(flag)]
            pooling = pooling_config.get("pooling_mode") or (modes[0] if len(modes) == 1 else "+".join(modes) or "mean")
            pooling_dimension = pooling_config.get("word_embedding_dimension")
        elif kind == _NORMALIZE:
            normalize = True
        else:
            extra.append(kind)
    st_config = _read_json(folder / "sentence_bert_config.json") or {}
    tokenizer_config = _read_json(folder / "tokenizer_config.json") or {}
    max_seq_length = st_config.get("max_seq_length") or min(
        int(tokenizer_config.get("model_max_length", 512) or 512), int(config.get("max_position_embeddings", 512))
    )
    dimension = pooling_dimension or config.get("hidden_size") or config.get("d_model")
    if not dimension:
        raise ModelError(f"cannot tell the embedding dimension of {folder}", hint="Use embedding.backend = \"torch\" for this model.")
    tokenizer_file = folder / "tokenizer.json"
    return ModelFolder(
        path=folder,
        fingerprint=folder_fingerprint(folder),
        dimension=int(dimension),
        max_seq_length=int(max_seq_length),
        do_lower_case=bool(st_config.get("do_lower_case", False)),
        pooling=str(pooling),
        normalize=normalize,
        extra_modules=tuple(extra),
        tokenizer_file=tokenizer_file if tokenizer_file.is_file() else None,
    )


def make_cache_dir(directory: Path) -> Path:
    """Create a folder under cache_dir for files derived from a model (an export, a distilled table)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {directory}: {exc.strerror}", hint="Set cache_dir (or RAG_CACHE_DIR) to a writable folder.") from exc
    return directory
