"""Commands that read an index: search and ask."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, print_json, run_command, settings_for
from ragcli.cli.terminal import echo, write
from ragcli.cli.options import (
    GpuLayersOption, IndexOption, JsonOption, KOption, LoraOption, ModelOption, PathOption, ReasoningOption, ThreadsOption,
    TypeOption, VerifierOption, answer_flags, scope_flags,
)


def stream_to_terminal(piece: str) -> None:
    write(piece)


def reasoning_to_stderr(piece: str) -> None:
    write(piece, err=True)


@app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for."),
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
) -> None:
    """Show the passages that best match QUERY, with path, page and score."""
    from ragcli.retrieval.searcher import search as run_search

    def action() -> None:
        settings = settings_for(ctx, {"retrieval.k": k, **scope_flags(path, kind)}, index)
        result = run_search(settings, query, k)
        if json_output:
            print_json(result.to_json())
            return
        from ragcli.cli.rendering import render_hits

        echo(render_hits(result))

    run_command(ctx, action)


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to answer from the indexed documents."),
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    model: Optional[str] = ModelOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    lora: Optional[Path] = LoraOption,
    show_reasoning: Optional[bool] = ReasoningOption,
    verifier: Optional[str] = VerifierOption,
) -> None:
    """Answer QUESTION from the indexed documents, citing sources as [n] path, page P."""
    from ragcli.answer.answerer import ask as run_ask
    from ragcli.cli.rendering import render_sources

    def action() -> None:
        flags = {"retrieval.k": k, **answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier), **scope_flags(path, kind)}
        settings = settings_for(ctx, flags, index)
        stream = None if json_output else stream_to_terminal
        answer = run_ask(settings, question, k, on_text=stream, on_reasoning=None if json_output else reasoning_to_stderr)
        if json_output:
            print_json(answer.to_json())
            return
        echo("\n")
        echo(render_sources(answer))

    run_command(ctx, action)
