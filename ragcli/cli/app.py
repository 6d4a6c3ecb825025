"""The `rag` Typer app, its global options, and the one error boundary every command runs inside.

Exit codes: 0 success; 1 fatal error; 2 usage or configuration error;
3 partial success (some files failed to ingest); 4 index locked by another writer;
5 `rag check` found problems it did not repair; 6 `rag ask` abstained (the documents
did not answer); 130 interrupted.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typer.core import TyperGroup

from ragcli import __version__
from ragcli.cli.terminal import echo, json_text, one_line
from ragcli.cli.terminal import echo as _echo
from ragcli.errors import RagError, explain

EXIT_PARTIAL = 3
EXIT_CHECK_FAILED = 5
EXIT_ABSTAINED = 6
EXIT_INTERRUPTED = 130

class _Commands(TyperGroup):
    """The `rag` group: a usage error for an unknown option says how to pass text that starts with '-'."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        # typer 0.28 vendors click as typer._click (pyproject pins typer below 0.29).
        except typer._click.exceptions.NoSuchOption as exc:
            command = exc.ctx.command.name if exc.ctx is not None else ""
            if command in _DASHED and not exc.possibilities:
                exc.message += (
                    f"\nhint: to {command} for text that starts with '-', give it with {_DASHED[command]}: "
                    f"rag {command} -e {shlex.quote(exc.option_name)}"
                )
            raise


# The commands whose text argument may start with '-', and the option that takes it.
_DASHED = {"search": "-e/--query", "ask": "-e/--question"}

app = typer.Typer(
    name="rag",
    cls=_Commands,
    help="Local-first RAG: ingest PDF, HTML, Markdown, text, Word, slides and e-books; search them; ask questions answered with citations.",
    no_args_is_help=True,
    # `rag --install-completion` (bash, zsh, fish, PowerShell) writes the completion script for the shell it runs in.
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class GlobalOptions:
    index: Optional[Path]
    config: Optional[Path]
    debug: bool


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ragcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    index: Optional[Path] = typer.Option(None, "--index", metavar="DIR", help="Index directory (default: per-user data dir; env RAG_INDEX)."),
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="TOML settings file (see configs/default.toml; `rag config show` prints what is in effect)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    ctx.obj = GlobalOptions(index=index, config=config, debug=debug)


def settings_for(ctx: typer.Context, flags: dict[str, Any], index: Optional[Path] = None):
    """The settings for this command: config file, environment, then the command's flags.
    Notes about deprecated settings go to stderr, once."""
    from ragcli.config import load_settings

    options: GlobalOptions = ctx.obj
    chosen_index = index or options.index
    if chosen_index is not None:
        flags = {**flags, "index.dir": str(chosen_index)}
    settings = load_settings(options.config, flags)
    for note in settings.notes:
        echo(f"note: {one_line(note)}", err=True)
    return settings


def run_command(ctx: typer.Context, action: Callable[[], int | None], also: Callable[[str], object] | None = None) -> None:
    """Run a command body, turning errors into one clear message and an exit code; ``also``
    receives each line of that message too (a run log)."""
    debug = ctx.obj.debug if ctx.obj else False
    if also is not None:
        def echo(text: str, err: bool = False) -> None:
            _echo(text, err=err)
            also(text)
    else:
        echo = _echo
    try:
        code = action() or 0
    except RagError as exc:
        if debug:
            raise
        echo(f"error: {one_line(exc)}", err=True)
        if exc.hint:
            echo(f"hint: {one_line(exc.hint)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if debug:
            raise
        explained = explain(exc)
        if explained is not None:
            echo(f"error: {one_line(explained)}", err=True)
            echo(f"hint: {one_line(explained.hint)}", err=True)
            raise typer.Exit(explained.exit_code) from None
        echo(f"error: unexpected {type(exc).__name__}: {one_line(exc)}", err=True)
        echo("hint: run again with --debug for the traceback, and report it if it persists.", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


def print_json(data: dict) -> None:
    sys.stdout.write(json_text(data) + "\n")
