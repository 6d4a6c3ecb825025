"""The `rag` command: each command parses options, calls one library function, renders the result.

``app`` holds the Typer app, the global options and the error boundary; the commands live in
``indexing`` (ingest, status, sources, check, schedule), ``watching`` (watch), ``querying`` (search, ask), ``chat``,
``serving`` (serve, mcp), ``evaluating`` (eval) and ``configuring`` (config); ``rendering`` turns results into text for a person.
"""

from __future__ import annotations

import os
import sys

from ragcli.cli.app import app
from ragcli.cli import chat, configuring, evaluating, indexing, querying, serving, watching  # noqa: F401  (each registers its commands on `app`)

# `rag --help` lists the commands in the order a user meets them.
_ORDER = ("ingest", "watch", "search", "ask", "chat", "serve", "mcp", "status", "check", "schedule", "eval")
app.registered_commands.sort(key=lambda command: _ORDER.index(command.name or command.callback.__name__))

__all__ = ["app", "main", "run"]


def run() -> int:
    """Run the command named in sys.argv; its exit code."""
    try:
        app()
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    return 0


def main() -> None:
    code = run()
    # Tearing down the loaded models and libraries (ONNX Runtime, FAISS, llama.cpp) takes a tenth of a
    # second or more and does nothing useful: every file is closed or committed by now. Flush, then leave.
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe (`rag search ... | head`)
            pass
    os._exit(code)
