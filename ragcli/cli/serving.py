"""`rag serve` (HTTP API, MCP at /mcp) and `rag mcp` (MCP over stdio): one index, models loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, run_command, settings_for
from ragcli.cli.options import EndpointOption, GpuLayersOption, IndexOption, ModelOption, ThreadsOption, VerifierOption, answer_flags
from ragcli.cli.terminal import echo


@app.command()
def serve(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", metavar="ADDRESS", help="Address to listen on (default 127.0.0.1; any other needs the bearer token)."),
    port: Optional[int] = typer.Option(None, "--port", "-p", metavar="PORT", help="Port to listen on (default 8765; 0 picks a free one)."),
    index: Optional[Path] = IndexOption,
    model: Optional[str] = ModelOption,
    endpoint: Optional[str] = EndpointOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
    verifier: Optional[str] = VerifierOption,
) -> None:
    """Serve the index over HTTP with its models kept loaded: a search-and-ask page at /, POST
    /search and /ask, GET /status, /sources and /health, and MCP (streamable HTTP) at /mcp. Stop
    with Ctrl-C or SIGTERM."""
    from ragcli.serve.running import serve as run_serve

    def ready(url: str, token_file: Optional[str]) -> None:
        echo(f"serving {settings.index_path} at {url} (MCP at {url}/mcp); Ctrl-C stops", err=True)
        if token_file:
            echo(f"clients must send 'Authorization: Bearer TOKEN' with the token in {token_file}", err=True)

    def action() -> None:
        nonlocal settings
        flags = {"serve.host": host, "serve.port": port, **answer_flags(model, threads, gpu_layers, None, None, verifier, endpoint)}
        settings = settings_for(ctx, flags, index)
        run_serve(settings, ready, lambda: echo("stopped", err=True), debug=ctx.obj.debug)

    settings = None
    run_command(ctx, action)


@app.command()
def mcp(
    ctx: typer.Context,
    index: Optional[Path] = IndexOption,
    model: Optional[str] = ModelOption,
    endpoint: Optional[str] = EndpointOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
) -> None:
    """Speak MCP over stdin and stdout, for an editor or agent that starts `rag mcp` itself:
    tools search, ask, status and sources."""
    from ragcli.serve.running import serve_stdio

    def action() -> None:
        serve_stdio(settings_for(ctx, answer_flags(model, threads, gpu_layers, None, None, None, endpoint), index), debug=ctx.obj.debug)

    run_command(ctx, action)
