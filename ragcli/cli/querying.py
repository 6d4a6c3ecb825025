"""Commands that read an index: search and ask."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import EXIT_ABSTAINED, app, print_json, run_command, settings_for
from ragcli.cli.terminal import echo, one_line, write
from ragcli.errors import UsageError
from ragcli.retrieval.query import require_text
from ragcli.serve.client import find_server
from ragcli.cli.options import (
    EndpointOption, GpuLayersOption, IndexOption, JsonOption, KOption, LoraOption, ModelOption, PathOption, ReasoningOption, ThreadsOption,
    TypeOption, VerifierOption, answer_flags, scope_flags,
)

NoServerOption = typer.Option(False, "--no-server", help="Work in this process even when `rag serve` runs for this index.")


def given_once(argument: Optional[str], option: Optional[str], what: str, spelling: str) -> str:
    """The query or question, given either as the argument or with its option, not both."""
    if argument is not None and option is not None:
        raise UsageError(f"the {what} was given twice: as an argument and with {spelling}", hint=f"Give it once; {spelling} is for a {what} that starts with '-'.")
    if argument is None and option is None:
        raise UsageError(f"missing the {what}", hint=f"Give it as the argument, or with {spelling} when it starts with '-'.")
    return argument if argument is not None else option


def stream_to_terminal(piece: str) -> None:
    write(piece)


def reasoning_to_stderr(piece: str) -> None:
    write(piece, err=True)


@app.command()
def search(
    ctx: typer.Context,
    query: Optional[str] = typer.Argument(None, metavar="QUERY", help="What to look for (one that starts with '-': give it with -e).", show_default=False),
    dashed: Optional[str] = typer.Option(None, "-e", "--query", metavar="QUERY", help="The query, for one that starts with '-' (as `rg -e`)."),
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    no_server: bool = NoServerOption,
) -> None:
    """Show the passages that best match QUERY, with path, page and score."""
    from ragcli.serve.client import search as run_search

    def action() -> None:
        text = given_once(query, dashed, "query", "-e/--query")
        settings = settings_for(ctx, {"retrieval.k": k, **scope_flags(path, kind)}, index)
        result = run_search(settings, text, k, use_server=not no_server)
        if json_output:
            print_json(result.to_json())
            return
        from ragcli.cli.rendering import render_hits
        from ragcli.cli.terminal import colour_wanted

        for note in result.notes:
            echo(f"note: {one_line(note)}", err=True)
        colour = colour_wanted(sys.stdout)
        echo(render_hits(result, colour=colour), styled=colour)

    run_command(ctx, action)


@app.command()
def ask(
    ctx: typer.Context,
    question: Optional[str] = typer.Argument(None, metavar="QUESTION", help="The question to answer from the indexed documents.", show_default=False),
    dashed: Optional[str] = typer.Option(None, "-e", "--question", metavar="QUESTION", help="The question, for one that starts with '-'."),
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the answer and its sources: no progress on the terminal."),
    model: Optional[str] = ModelOption,
    endpoint: Optional[str] = EndpointOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    lora: Optional[Path] = LoraOption,
    show_reasoning: Optional[bool] = ReasoningOption,
    verifier: Optional[str] = VerifierOption,
    no_server: bool = NoServerOption,
) -> None:
    """Answer QUESTION from the indexed documents, citing sources as [n] path, page P.

    Exits with 6 when the documents do not answer it (the answer is an abstention)."""
    from ragcli.answer.answerer import Answerer
    from ragcli.cli.asking import AskDisplay, run_interruptibly
    from ragcli.cli.terminal import colour_wanted
    from ragcli.cli.rendering import render_sources

    def action() -> int:
        text = require_text(given_once(question, dashed, "question", "-e/--question"), "question")
        flags = {"retrieval.k": k, **answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier, endpoint), **scope_flags(path, kind)}
        settings = settings_for(ctx, flags, index)
        loaded: list[Answerer] = []
        server = None if no_server else find_server(settings)
        replies: list = []

        def in_process():
            loaded.append(Answerer.open(settings))
            try:
                if json_output:
                    return loaded[0].ask(text, k)
                return loaded[0].ask(text, k, on_text=display.text, on_reasoning=reasoning_to_stderr, on_event=display.on_event)
            finally:
                loaded[0].close()

        def work():
            if server is None:
                return in_process()
            scope = (settings.retrieval.paths, settings.retrieval.types)
            try:
                if json_output:
                    return server.ask(text, settings.retrieval.k, *scope, opened=replies.append)
                return server.ask(text, settings.retrieval.k, *scope, on_text=display.text, on_event=display.on_event, opened=replies.append)
            except OSError:
                if replies:  # it went away mid-answer: what was shown cannot be taken back
                    raise
                return in_process()

        def cancel() -> None:
            for reply in replies:
                reply.close()  # the server stops the answer when its client goes away
            if loaded:
                loaded[0].generator.cancel()

        with AskDisplay(live=not (json_output or quiet)) as display:
            answer = run_interruptibly(work, cancel)
            display.finish()
        if json_output:
            print_json(answer.to_json())
        else:
            echo("\n")
            colour = colour_wanted(sys.stdout)
            echo(render_sources(answer, colour=colour), styled=colour)
        return EXIT_ABSTAINED if answer.abstained else 0

    run_command(ctx, action)
