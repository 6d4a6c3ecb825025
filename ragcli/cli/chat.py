"""`rag chat`: a REPL over the index; each turn is answered and cited like `rag ask`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, run_command, settings_for
from ragcli.cli.options import (
    GpuLayersOption, IndexOption, KOption, LoraOption, ModelOption, PathOption, ReasoningOption, ThreadsOption, TypeOption,
    VerifierOption, answer_flags, scope_flags,
)
from ragcli.cli.querying import reasoning_to_stderr, stream_to_terminal
from ragcli.cli.terminal import echo, json_text, one_line

HELP_LINE = "Ask a question; follow-ups may refer to earlier turns. /reset forgets the conversation, /exit (or Ctrl-D) quits."


def _read(prompt: str, interactive: bool) -> str | None:
    if interactive:
        sys.stderr.write(prompt)
        sys.stderr.flush()
    line = sys.stdin.readline()
    return None if line == "" else line.strip()


@app.command()
def chat(
    ctx: typer.Context,
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per turn (ask's fields plus the standalone question)."),
    model: Optional[str] = ModelOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
    lora: Optional[Path] = LoraOption,
    show_reasoning: Optional[bool] = ReasoningOption,
    verifier: Optional[str] = VerifierOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    rewrite: Optional[str] = typer.Option(None, "--rewrite", help="Rewrite follow-ups with the model (llm) or by carrying the topic over (simple)."),
) -> None:
    """Talk with your documents: questions are read from the terminal (or stdin), one per line."""
    from ragcli.answer.chat import open_conversation
    from ragcli.cli.rendering import render_sources

    def action() -> None:
        flags = {"retrieval.k": k, "chat.rewrite": rewrite, **answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier),
                 **scope_flags(path, kind)}
        settings = settings_for(ctx, flags, index)
        interactive = sys.stdin.isatty()
        conversation = open_conversation(settings)
        try:
            if interactive and not json_output:
                echo(HELP_LINE, err=True)
            while True:
                question = _read("\nyou> ", interactive)
                if question is None or question in ("/exit", "/quit"):
                    break
                if not question:
                    continue
                if question == "/reset":
                    conversation.reset()
                    echo("(conversation forgotten)", err=True)
                    continue
                if json_output:
                    turn = conversation.ask(question, k)
                    sys.stdout.write(json_text(turn.to_json(), indent=None) + "\n")
                    sys.stdout.flush()
                    continue
                turn = conversation.ask(
                    question, k, on_text=stream_to_terminal, on_reasoning=reasoning_to_stderr,
                    on_standalone=lambda text: echo(f"(searching for: {one_line(text)})", err=True),
                )
                echo("\n")
                echo(render_sources(turn.answer))
        finally:
            conversation.answerer.close()

    run_command(ctx, action)
