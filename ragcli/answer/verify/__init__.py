"""The Verifier seam: does a passage back an answer sentence?

Three implementations, picked by ``verification.method``:
- "lexical": every identifier/number/quoted span and most of the words a sentence adds to the
  question appear in one passage (``claims``). Cheap, strict on wording.
- "embedding": the lexical rule for specific terms, and the bundled MiniLM's cosine between the
  sentence and the passage's sentences for the prose, so paraphrases pass.
- "llm": the lexical rule for specific terms, and a generator asked yes/no (LLM as a judge).

``verify_draft`` applies one of them to a whole draft and decides what the answer shows.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ragcli.config import Settings
from ragcli.errors import ConfigError

if TYPE_CHECKING:
    from ragcli.answer.verify.draft import UNSUPPORTED_MARK, CheckedDraft, SentenceCheck, Verifier, verify_draft

__all__ = ["METHODS", "UNSUPPORTED_MARK", "UNSUPPORTED_MODES", "CheckedDraft", "SentenceCheck", "Verifier", "load_verifier", "verify_draft"]

METHODS = ("lexical", "embedding", "llm")
# What happens to a sentence no passage backs: dropped, or shown with UNSUPPORTED_MARK.
UNSUPPORTED_MODES = ("drop", "mark")


def __getattr__(name: str):
    # The records and verify_draft load on first use: config validation reads METHODS from here on
    # every command, and most commands never verify anything.
    if name in ("UNSUPPORTED_MARK", "CheckedDraft", "SentenceCheck", "Verifier", "verify_draft"):
        from ragcli.answer.verify import draft

        return getattr(draft, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_verifier(settings: Settings, *, embedder=None, generator=None) -> "Verifier":
    """The verifier named by ``verification.method``, reusing an already loaded embedder or generator."""
    options = settings.verification
    if options.method == "lexical":
        from ragcli.answer.verify.lexical import LexicalVerifier

        return LexicalVerifier(options.min_support)
    if options.method == "embedding":
        from ragcli.answer.verify.embedding import EmbeddingVerifier

        if embedder is None:
            from ragcli.embedding import load_embedder

            embedder = load_embedder(settings)
        return EmbeddingVerifier(embedder, options.min_support, options.min_similarity)
    if options.method == "llm":
        from ragcli.answer.verify.judge import JudgeVerifier
        from ragcli.generation import load_generator

        if options.judge_model:
            judge = dataclasses.replace(settings, generation=dataclasses.replace(settings.generation, model=options.judge_model, lora="", endpoint=""))
            return JudgeVerifier(load_generator(judge), options.min_support, shares_generator=False)
        if generator is None:
            raise ConfigError("verification.method = 'llm' needs a generator", hint="Set verification.judge_model or use ask.")
        return JudgeVerifier(generator, options.min_support, shares_generator=True)
    raise ConfigError(f"verification.method must be one of {', '.join(METHODS)}, got {options.method!r}", hint='Use verification.method = "lexical".')
