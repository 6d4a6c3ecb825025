"""Options that several commands share, and the config overrides they stand for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

# Choices and defaults are spelled out here rather than imported from their registries and the
# settings, which would cost every `rag` command their imports; tests/test_cli.py checks that they agree.
IndexOption = typer.Option(None, "--index", metavar="DIR", help="Index directory (overrides the global --index).")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
# `--k` is the spelling of ragcli 0.3 and earlier; scripts keep working.
KOption = typer.Option(None, "-k", "--top-k", "--k", min=1, metavar="N", help="Number of passages (default: retrieval.k, 5).")
PathOption = typer.Option(
    None, "--path", metavar="GLOB",
    help="Only documents matching GLOB (repeatable): '*.pdf', 'howto/*', '~/docs/manuals'; '*' stays in one folder, '**' crosses folders.",
)
TypeOption = typer.Option(None, "--type", metavar="pdf|html|md|docx|pptx|odt|epub|rtf|txt", help="Only documents of this type (repeatable).")
WaitOption = typer.Option(0.0, "--wait", min=0, metavar="SECONDS", help="Seconds to wait for a running ingest to finish.")

ModelOption = typer.Option(None, "--model", metavar="NAME|FILE", help="Generator: bundled name (smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) or GGUF path.")
ThreadsOption = typer.Option(None, "--threads", min=1, metavar="N", help="CPU threads for generation (default: generation.threads, 0: all cores).")
GpuLayersOption = typer.Option(None, "--gpu-layers", metavar="N", help="Layers to offload to a GPU (-1: all), if llama.cpp was built with GPU support.")
EndpointOption = typer.Option(
    None, "--endpoint", metavar="URL",
    help="Generate with this OpenAI-compatible server (llama-server, Ollama, vLLM), e.g. http://127.0.0.1:8080/v1, instead of the in-process model.",
)
LoraOption = typer.Option(None, "--lora", metavar="FILE", help="LoRA adapter (GGUF) to apply on top of the model.")
ReasoningOption = typer.Option(None, "--show-reasoning/--hide-reasoning", help="Show a reasoning model's <think> text (on stderr); hidden by default.")
VerifierOption = typer.Option(None, "--verifier", metavar="METHOD", help="Check answer sentences with: lexical, embedding, llm.")


def scope_flags(paths: Optional[list[str]], types: Optional[list[str]]) -> dict[str, Any]:
    """Config overrides for `--path` and `--type`; None leaves the configured scope in place."""
    return {
        "retrieval.paths": tuple(paths) if paths else None,
        "retrieval.types": tuple(t.lower() for t in types) if types else None,
    }


def answer_flags(
    model: Optional[str], threads: Optional[int], gpu_layers: Optional[int], lora: Optional[Path],
    show_reasoning: Optional[bool], verifier: Optional[str], endpoint: Optional[str] = None,
) -> dict[str, Any]:
    """Config overrides for the generation and verification options shared by `ask` and `chat`."""
    return {
        "generation.model": model, "generation.threads": threads, "generation.gpu_layers": gpu_layers,
        "generation.lora": str(lora) if lora else None, "generation.show_reasoning": show_reasoning,
        "verification.method": verifier, "generation.endpoint": endpoint,
    }
