"""Commands that build and look after an index: ingest, status, sources, check, schedule."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import EXIT_CHECK_FAILED, EXIT_PARTIAL, app, print_json, run_command, settings_for
from ragcli.cli.options import IndexOption, JsonOption, WaitOption
from ragcli.cli.terminal import echo, one_line
from ragcli.errors import UsageError


def remembered_patterns(paths: Optional[list[Path]], include: Optional[list[str]], exclude: Optional[list[str]]):
    """--include / --exclude as the patterns to remember for the folders given (None: keep theirs)."""
    if include is None and exclude is None:
        return None
    if not paths:
        raise UsageError("--include and --exclude need the folders they are for", hint="Run `rag ingest FOLDER --exclude GLOB`, or set ingest.exclude in the config for every folder.")
    from ragcli.walking import Patterns

    wanted = Patterns(tuple(p for p in include or () if p.strip()), tuple(p for p in exclude or () if p.strip()))
    return {path: wanted for path in paths}


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(None, metavar="PATH...", show_default=False, help="Files or folders; none re-syncs the folders the index remembers."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = typer.Option(0.0, "--wait", min=0, metavar="SECONDS", help="Seconds to wait for another running ingest to finish."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and failures."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="On a terminal, also list every file indexed or removed (logs always do)."),
    embedder: Optional[str] = typer.Option(None, "--embedder", metavar="NAME|DIR", help="Embedder: short name or sentence-transformers folder."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Build a fresh index (e.g. after changing embedder or chunking) beside the current one, then swap it in."
    ),
    follow_links: Optional[bool] = typer.Option(
        None, "--follow-links/--no-follow-links", help="Index files that links in the folders point to outside them (default: ingest.follow_links, off)."
    ),
    include: Optional[list[str]] = typer.Option(
        None, "--include", metavar="GLOB", help="Index only files matching GLOB (.gitignore syntax, repeatable); remembered for these folders' re-syncs."
    ),
    log: Optional[Path] = typer.Option(
        None, "--log", metavar="FILE",
        help="Append every line, timestamped, to FILE (moved to FILE.1 past ingest.log_max_kb); print only failures and errors: quiet on success, for cron.",
    ),
    ray: Optional[str] = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="Parse, chunk and embed on a Ray cluster: host:port, 'auto' (one running here) or 'local' (start one); needs ragcli[ray].",
    ),
    exclude: Optional[list[str]] = typer.Option(
        None, "--exclude", metavar="GLOB",
        help="Leave out files and folders matching GLOB ('*.txt', 'drafts/'; repeatable); remembered for these folders' re-syncs. --exclude '' forgets them.",
    ),
) -> None:
    """Index files: parse, chunk, embed and store. Unchanged files are skipped; deleted files are removed."""
    from ragcli.cli.rendering import IngestProgress

    if rebuild:
        from ragcli.rebuild import rebuild as run_ingest
    else:
        from ragcli.ingest import ingest as run_ingest

    run_log = []

    def action() -> int:
        settings = settings_for(ctx, {"embedding.model": embedder, "ingest.follow_links": follow_links, "ingest.ray": ray}, index)
        if log is not None:
            from ragcli.cli.runlog import RunLog

            run_log.append(RunLog(log, settings.ingest.log_max_kb * 1024))
        with IngestProgress(enabled=not json_output, quiet=quiet, log=run_log[0] if run_log else None, verbose=verbose) as progress:
            try:
                report = run_ingest(settings, paths or [], wait_seconds=wait, on_event=progress.on_event, patterns=remembered_patterns(paths, include, exclude))
            except KeyboardInterrupt:
                progress.interrupted()
                raise
        if json_output:
            print_json(report.to_json())
        else:
            progress.summary(report)
        return EXIT_PARTIAL if report.failed else 0

    try:
        run_command(ctx, action, also=lambda line: run_log and run_log[0].write(line))
    finally:
        if run_log:
            run_log[0].close()


@app.command()
def status(ctx: typer.Context, index: Optional[Path] = IndexOption, json_output: bool = JsonOption) -> None:
    """Show what the index holds: documents, chunks, models, settings, size, last ingest."""
    from ragcli.status import index_status

    def action() -> None:
        report = index_status(settings_for(ctx, {}, index))
        if json_output:
            print_json(report)
            return
        from ragcli.cli.rendering import render_status

        echo(render_status(report))

    run_command(ctx, action)


sources_app = typer.Typer(help="List the folders the index re-syncs, or remove one with its documents.", no_args_is_help=False)
app.add_typer(sources_app, name="sources")


@sources_app.callback(invoke_without_command=True)
def sources_list(ctx: typer.Context, index: Optional[Path] = IndexOption, json_output: bool = JsonOption) -> None:
    """List the remembered folders with their document and chunk counts."""
    if ctx.invoked_subcommand is not None:
        return
    from ragcli.sources import list_sources

    def action() -> None:
        roots = list_sources(settings_for(ctx, {}, index))
        if json_output:
            print_json({"sources": [root.to_json() for root in roots]})
            return
        if not roots:
            echo("No sources: run `rag ingest PATH...`.")
        for root in roots:
            missing = "" if root.exists else "  (missing: documents kept)"
            echo(f"{one_line(root.path)}  {root.documents} documents, {root.chunks} chunks{missing}")
            for flag, patterns in (("--include", root.patterns.include), ("--exclude", root.patterns.exclude)):
                if patterns:
                    echo(f"  {flag} " + " ".join(one_line(repr(p)) for p in patterns))

    run_command(ctx, action)


@sources_app.command("remove")
def sources_remove(
    ctx: typer.Context,
    path: Path = typer.Argument(..., metavar="PATH", show_default=False, help="A folder or file exactly as `rag sources` lists it."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = WaitOption,
) -> None:
    """Forget a source and remove its documents from the index."""
    from ragcli.sources import remove_source

    def action() -> None:
        removed = remove_source(settings_for(ctx, {}, index), path, wait_seconds=wait)
        if json_output:
            print_json({"removed": removed.to_json()})
        else:
            echo(f"removed source {one_line(removed.path)}: {removed.documents} documents, {removed.chunks} chunks")

    run_command(ctx, action)


@app.command()
def check(
    ctx: typer.Context,
    repair: bool = typer.Option(False, "--repair", help="Fix what can be fixed in place (takes the writer lock)."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = typer.Option(0.0, "--wait", min=0, metavar="SECONDS", help="With --repair: seconds to wait for a running ingest."),
) -> None:
    """Verify the index: catalog and vectors agree, every chunk has a vector and a full-text entry, no orphans."""
    from ragcli.check import check_index

    def action() -> int:
        report = check_index(settings_for(ctx, {}, index), repair_damage=repair, wait_seconds=wait)
        if json_output:
            print_json(report.to_json())
        else:
            from ragcli.cli.rendering import render_check

            echo(render_check(report))
        return 0 if report.ok else EXIT_CHECK_FAILED

    run_command(ctx, action)


@app.command()
def schedule(
    ctx: typer.Context,
    install: bool = typer.Option(False, "--install", help="Add the line to your crontab (replacing an earlier one for this index)."),
    at: Optional[str] = typer.Option(None, "--at", metavar="HH:MM", help="Daily time HH:MM (default 03:17)."),
    cron: Optional[str] = typer.Option(None, "--cron", metavar="SCHEDULE", help='A cron schedule instead of --at, e.g. "0 */6 * * *".'),
    log: Optional[Path] = typer.Option(None, "--log", metavar="FILE", help="Log file for the runs (default: next to the index, INDEX.log)."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """Print a crontab line that re-syncs this index's folders (`rag ingest` with no path) on a schedule."""
    from ragcli.schedule import build_schedule, check_runs, install_schedule

    def action() -> None:
        settings = settings_for(ctx, {}, index)
        plan = build_schedule(settings, config_file=ctx.obj.config, environ=dict(os.environ), at=at, expression=cron, log=log)
        if install:
            check_runs(plan, ctx.obj.config, dict(os.environ))
            install_schedule(plan)
        if json_output:
            print_json({**plan.to_json(), "installed": install})
            return
        echo(plan.line)
        if install:
            echo(f"installed in your crontab; runs log to {one_line(plan.log)}", err=True)

    run_command(ctx, action)
