"""`rag watch`: re-sync folders as their files change, logging each re-sync like a cron run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, run_command, settings_for
from ragcli.cli.options import IndexOption


@app.command()
def watch(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(None, metavar="PATH...", show_default=False, help="Folders or files; none watches the folders the index remembers."),
    index: Optional[Path] = IndexOption,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only each re-sync's summary and failures."),
) -> None:
    """Keep the index in step with its folders: re-sync changed files as they are saved, until SIGTERM or Ctrl-C."""
    from ragcli.cli.rendering import IngestProgress, log_line
    from ragcli.watch import WatchEventKind, watch as run_watch

    progress = IngestProgress(enabled=True, quiet=quiet)

    def show(event) -> None:
        if event.kind is WatchEventKind.WATCHING:
            missing = f"; missing, documents kept: {', '.join(event.missing)}" if event.missing else ""
            log_line(f"watching {', '.join(event.roots) or 'nothing'}{missing}")
        elif event.kind is WatchEventKind.SYNCED:
            if event.changes:
                log_line(f"{len(event.changes)} changes: {', '.join(sorted(set(event.changes))[:5])}" + (" ..." if len(set(event.changes)) > 5 else ""))
            progress.summary(event.report)
        elif event.kind is WatchEventKind.PROBLEM:
            log_line(f"error: {event.message}")
        else:
            log_line("stopped")

    def action() -> None:
        run_watch(settings_for(ctx, {}, index), paths or [], on_event=show, on_ingest_event=progress.on_event)

    run_command(ctx, action)
