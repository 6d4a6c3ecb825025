"""The Verifier seam: does a passage back an answer sentence?

Three implementations, picked by ``verification.method``:
- "lexical": every identifier/number/quoted span and most of the words a sentence adds to the
  question appear in one passage (grounding.check_sentence). Cheap, strict on wording.
- "embedding": the lexical rule for specific terms, and the bundled MiniLM's cosine between the
  sentence and the passage's sentences for the prose, so paraphrases pass.
- "llm": the lexical rule for specific terms, and a generator asked yes/no (LLM as a judge).
"""

from __future__ import annotations

from typing import Protocol, Sequence

from ragcli.config import Settings
from ragcli.errors import ConfigError
from ragcli.grounding import SentenceCheck


class Verifier(Protocol):
    name: str
    # False when checking would disturb a generation in progress (the judge shares the model):
    # such a verifier is called only once the draft is complete.
    streams: bool

    def check(self, sentence: str, question: str, passages: Sequence[str]) -> SentenceCheck: ...


METHODS = ("lexical", "embedding", "llm")


def load_verifier(settings: Settings, embedder=None, generator=None) -> Verifier:
    """The verifier named in config, reusing the already loaded embedder and generator."""
    options = settings.verification
    threshold = settings.generation.min_support
    if options.method == "lexical":
        from ragcli.verification.lexical import LexicalVerifier

        return LexicalVerifier(threshold)
    if options.method == "embedding":
        from ragcli.verification.embedding import EmbeddingVerifier

        if embedder is None:
            from ragcli.embedding import load_embedder

            embedder = load_embedder(settings.embedding)
        return EmbeddingVerifier(embedder, threshold, options.min_similarity)
    if options.method == "llm":
        from ragcli.verification.judge import JudgeVerifier

        if options.judge_model:
            import dataclasses

            from ragcli.generation import load_generator

            judge_settings = dataclasses.replace(
                settings, generation=dataclasses.replace(settings.generation, model=options.judge_model, lora="")
            )
            generator = load_generator(judge_settings)
            return JudgeVerifier(generator, threshold, shares_generator=False)
        if generator is None:
            raise ConfigError("verification.method = 'llm' needs a generator", hint="Set verification.judge_model or use ask.")
        return JudgeVerifier(generator, threshold, shares_generator=True)
    raise ConfigError(
        f"verification.method must be one of {', '.join(METHODS)}, got {options.method!r}",
        hint='Use verification.method = "lexical".',
    )
