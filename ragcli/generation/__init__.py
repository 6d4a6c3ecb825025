"""The Generator seam: chat messages in, streamed text out, plus the model's own token count."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from ragcli.config import Settings


class Generator(Protocol):
    id: str
    # The model's context window in its own tokens.
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]: ...


def _echo(settings: Settings) -> Generator:
    from ragcli.generation.echo import EchoGenerator

    return EchoGenerator(n_ctx=settings.generation.n_ctx)


def _llama(settings: Settings) -> Generator:
    from ragcli.generation.bundled import resolve_model_file
    from ragcli.generation.llama import LlamaGenerator

    return LlamaGenerator(resolve_model_file(settings.generation.model, settings.cache_path), settings.generation)


GENERATORS = {"echo": _echo}


def load_generator(settings: Settings) -> Generator:
    """The generator named in config: "echo" (the fake), a bundled short name, or a GGUF path."""
    factory = GENERATORS.get(settings.generation.model.lower(), _llama)
    return factory(settings)
