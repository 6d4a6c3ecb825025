"""Checks on a built settings object: ranges, and choices taken from the registries that serve them."""

from __future__ import annotations

from typing import Sequence

from ragcli.config.sections import TEMPLATE_TOKENS, Settings
from ragcli.errors import ConfigError

_HINT = "See configs/default.toml for the defaults."


def _choices() -> dict[str, Sequence[str]]:
    # Imported here, not at the top: the registries' modules import the settings classes.
    from ragcli.answer import REWRITES
    from ragcli.answer.verify import METHODS, UNSUPPORTED_MODES
    from ragcli.embedding import BACKENDS, PRECISIONS
    from ragcli.reranking import MODES
    from ragcli.store.vectors import VECTOR_STORES

    return {
        "index.vectors": tuple(VECTOR_STORES),
        "embedding.backend": BACKENDS,
        "embedding.precision": PRECISIONS,
        "reranking.mode": MODES,
        "verification.method": METHODS,
        "verification.unsupported": UNSUPPORTED_MODES,
        "chat.rewrite": REWRITES,
    }


def _value(settings: Settings, dotted: str):
    section, _, key = dotted.partition(".")
    return getattr(getattr(settings, section), key)


def validate(settings: Settings) -> None:
    """Raise ConfigError naming the first setting that is out of range or not one of its choices."""
    for name, choices in _choices().items():
        value = _value(settings, name)
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{name} must be one of {listed}, got {value!r}", hint=f"Use {name} = {choices[0]!r}.".replace("'", '"'))
    chunking = settings.chunking
    if chunking.tokens < 16:
        raise ConfigError(f"chunking.tokens must be at least 16, got {chunking.tokens}", hint="Use a chunk size such as 200.")
    if not 0 <= chunking.overlap < chunking.tokens // 2:
        raise ConfigError(
            f"chunking.overlap must be between 0 and half of chunking.tokens, got {chunking.overlap}", hint="Use an overlap such as 32."
        )
    if settings.embedding.precision == "int8" and settings.embedding.backend != "onnx":
        raise ConfigError('embedding.precision = "int8" needs embedding.backend = "onnx"', hint='Set embedding.backend = "onnx" or embedding.precision = "fp32".')
    s = settings
    ranges = [
        ("retrieval.k", s.retrieval.k >= 1, "at least 1"),
        ("embedding.read_tokens", s.embedding.read_tokens == 0 or s.embedding.read_tokens >= 8, "0 (the whole chunk) or at least 8"),
        ("ingest.log_max_kb", s.ingest.log_max_kb >= 1, "at least 1"),
        ("ingest.ray_files_per_task", s.ingest.ray_files_per_task >= 1, "at least 1"),
        ("ingest.ray_retries", s.ingest.ray_retries >= 0, "0 or more"),
        ("serve.port", 0 <= s.serve.port <= 65535, "a port number, 0 to 65535 (0: any free port)"),
        ("serve.max_body_kb", s.serve.max_body_kb >= 1, "at least 1"),
        ("serve.body_timeout_s", s.serve.body_timeout_s > 0, "more than 0"),
        ("serve.max_streams", s.serve.max_streams >= 1, "at least 1"),
        ("retrieval.candidates", s.retrieval.candidates >= 1, "at least 1"),
        ("retrieval.max_per_page", s.retrieval.max_per_page >= 1, "at least 1"),
        ("retrieval.rrf_k", s.retrieval.rrf_k >= 1, "at least 1"),
        ("retrieval.dense_weight", s.retrieval.dense_weight >= 0, "0 or more"),
        ("retrieval.lexical_weight", s.retrieval.lexical_weight >= 0, "0 or more"),
        ("retrieval.neighbours", s.retrieval.neighbours >= 0, "0 or more"),
        ("retrieval.min_passage_chars", s.retrieval.min_passage_chars >= 0, "0 or more"),
        ("retrieval.heading_weight", s.retrieval.heading_weight >= 0, "0 or more"),
        ("reranking.candidates", s.reranking.candidates >= 1, "at least 1"),
        ("reranking.weight", s.reranking.weight >= 0, "0 or more"),
        ("reranking.batch_size", s.reranking.batch_size >= 1, "at least 1"),
        ("embedding.batch_size", s.embedding.batch_size >= 1, "at least 1"),
        ("embedding.threads", s.embedding.threads >= 0, "0 (automatic) or more"),
        ("index.ann_threshold", s.index.ann_threshold >= 1, "at least 1"),
        ("index.ann_lists", s.index.ann_lists >= 0, "0 (automatic) or more"),
        ("index.nprobe", s.index.nprobe >= 1, "at least 1"),
        ("parsing.max_file_mb", s.parsing.max_file_mb > 0, "more than 0"),
        ("parsing.timeout_s", s.parsing.timeout_s > 0, "more than 0"),
        ("parsing.max_memory_mb", s.parsing.max_memory_mb >= 256, "at least 256"),
        ("parsing.workers", s.parsing.workers >= 0, "0 (automatic) or more"),
        ("generation.max_answer_tokens", s.generation.max_answer_tokens >= 16, "at least 16"),
        ("generation.threads", s.generation.threads >= 0, "0 (automatic) or more"),
        ("ingest.near_duplicates", 0 <= s.ingest.near_duplicates <= 1, "between 0 (off) and 1"),
        ("generation.endpoint_timeout_s", s.generation.endpoint_timeout_s > 0, "more than 0"),
        ("verification.min_support", 0 < s.verification.min_support <= 1, "between 0 (excluded) and 1"),
        ("verification.min_similarity", 0 < s.verification.min_similarity <= 1, "between 0 (excluded) and 1"),
        ("verification.correct_below", 0 <= s.verification.correct_below <= 1, "between 0 and 1"),
        ("chat.history_turns", s.chat.history_turns >= 0, "0 or more"),
        ("watch.quiet_ms", s.watch.quiet_ms >= 1, "at least 1"),
        ("watch.max_delay_ms", s.watch.max_delay_ms >= s.watch.quiet_ms, "at least watch.quiet_ms"),
        ("watch.wait_s", s.watch.wait_s >= 0, "0 or more"),
    ]
    for name, ok, expected in ranges:
        if not ok:
            raise ConfigError(f"{name} must be {expected}, got {_value(settings, name)}", hint=_HINT)
    from ragcli.parsing import DOCUMENT_TYPES

    unknown_types = sorted(set(settings.retrieval.types) - set(DOCUMENT_TYPES))
    if unknown_types:
        raise ConfigError(
            f"retrieval.types: unknown document type {', '.join(map(repr, unknown_types))}",
            hint=f"Use one or more of {', '.join(DOCUMENT_TYPES)}.",
        )
    generation = settings.generation
    if generation.context_tokens + generation.max_answer_tokens + TEMPLATE_TOKENS > generation.n_ctx:
        raise ConfigError(
            f"generation.context_tokens ({generation.context_tokens}) + max_answer_tokens ({generation.max_answer_tokens})"
            f" + {TEMPLATE_TOKENS} for the prompt must fit in generation.n_ctx ({generation.n_ctx})",
            hint="Raise generation.n_ctx or lower context_tokens / max_answer_tokens.",
        )
