"""The `rag` command: parse options, call one library function, render the result.

Exit codes: 0 success; 1 fatal error; 2 usage or configuration error;
3 partial success (some files failed to ingest); 4 index locked by another writer;
5 `rag check` found problems it did not repair.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from ragcli import __version__
from ragcli.cli.scoping import PathOption, TypeOption, scope_flags
from ragcli.errors import RagError

EXIT_PARTIAL = 3
EXIT_CHECK_FAILED = 5

app = typer.Typer(
    name="rag",
    help="Local-first RAG: ingest PDF, HTML, Markdown and text; search them; ask questions answered with citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
    index: Optional[Path] = typer.Option(None, "--index", help="Index directory (default: per-user data dir; env RAG_INDEX)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (see configs/default.toml)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    ctx.obj = GlobalOptions(index=index, config=config, debug=debug)


def _settings(ctx: typer.Context, flags: dict[str, Any], index: Optional[Path] = None):
    from ragcli.config import load_settings

    options: GlobalOptions = ctx.obj
    chosen_index = index or options.index
    if chosen_index is not None:
        flags = {**flags, "index.dir": str(chosen_index)}
    return load_settings(options.config, flags)


def _run(ctx: typer.Context, action: Callable[[], int | None]) -> None:
    """Run a command body, turning errors into one clear message and an exit code."""
    debug = ctx.obj.debug if ctx.obj else False
    try:
        code = action() or 0
    except RagError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:
        if debug:
            raise
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        typer.echo("hint: run again with --debug for the traceback, and report it if it persists.", err=True)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


def _print_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _where(path: str, page: int | None) -> str:
    return f"{path}, page {page}" if page is not None else path


IndexOption = typer.Option(None, "--index", help="Index directory (overrides the global --index).")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
KOption = typer.Option(None, "--k", min=1, help="Number of passages (default: retrieval.k).")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders; none re-syncs the folders the index remembers."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for another running ingest to finish."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary and failures."),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder: short name or sentence-transformers folder."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Build a fresh index (e.g. after changing embedder or chunking) beside the current one, then swap it in."
    ),
) -> None:
    """Index files: parse, chunk, embed and store. Unchanged files are skipped; deleted files are removed."""
    from ragcli.cli.rendering import IngestProgress

    if rebuild:
        from ragcli.rebuild import rebuild as run_ingest
    else:
        from ragcli.ingest import ingest as run_ingest

    def action() -> int:
        settings = _settings(ctx, {"embedding.model": embedder}, index)
        with IngestProgress(enabled=not json_output, quiet=quiet) as progress:
            report = run_ingest(settings, paths or [], wait_seconds=wait, on_event=progress.on_event)
        if json_output:
            _print_json(report.to_json())
        else:
            progress.summary(report)
        return EXIT_PARTIAL if report.failed else 0

    _run(ctx, action)


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
        settings = _settings(ctx, {"retrieval.k": k, **scope_flags(path, kind)}, index)
        result = run_search(settings, query, k)
        if json_output:
            _print_json(result.to_json())
            return
        if not result.hits:
            typer.echo("No passages found.")
        for hit in result.hits:
            typer.echo(f"[{hit.rank}] {_where(hit.path, hit.page)}  (score {hit.score:.4f})")
            if hit.headings:
                typer.echo(f"    {' > '.join(hit.headings)}")
            snippet = " ".join(hit.text.split())
            typer.echo(f"    {snippet[:400]}{'…' if len(snippet) > 400 else ''}\n")

    _run(ctx, action)


ModelOption = typer.Option(None, "--model", help="Generator: bundled name (smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) or GGUF path.")
LoraOption = typer.Option(None, "--lora", help="LoRA adapter (GGUF) to apply on top of the model.")
ReasoningOption = typer.Option(None, "--show-reasoning/--hide-reasoning", help="Show a reasoning model's <think> text (on stderr); hidden by default.")
VerifierOption = typer.Option(None, "--verifier", help="Check answer sentences with: lexical, embedding or llm.")


def answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier) -> dict[str, Any]:
    """The generation and verification options shared by `ask` and `chat`."""
    return {
        "generation.model": model, "generation.threads": threads, "generation.gpu_layers": gpu_layers,
        "generation.lora": str(lora) if lora else None, "generation.show_reasoning": show_reasoning,
        "verification.method": verifier,
    }


def stream_to_terminal(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def reasoning_to_stderr(piece: str) -> None:
    sys.stderr.write(piece)
    sys.stderr.flush()


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to answer from the indexed documents."),
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    model: Optional[str] = ModelOption,
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for generation."),
    gpu_layers: Optional[int] = typer.Option(None, "--gpu-layers", help="Layers to offload to a GPU (-1: all), if llama.cpp was built with GPU support."),
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    lora: Optional[Path] = LoraOption,
    show_reasoning: Optional[bool] = ReasoningOption,
    verifier: Optional[str] = VerifierOption,
) -> None:
    """Answer QUESTION from the indexed documents, citing sources as [n] path, page P."""
    from ragcli.answering import ask as run_ask
    from ragcli.cli.rendering import render_sources

    def action() -> None:
        flags = {"retrieval.k": k, **answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier), **scope_flags(path, kind)}
        settings = _settings(ctx, flags, index)
        stream = None if json_output else stream_to_terminal
        answer = run_ask(settings, question, k, on_text=stream, on_reasoning=None if json_output else reasoning_to_stderr)
        if json_output:
            _print_json(answer.to_json())
            return
        typer.echo("\n")
        typer.echo(render_sources(answer))

    _run(ctx, action)


@app.command()
def status(
    ctx: typer.Context,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """Show what the index holds: documents, chunks, models, settings, size, last ingest."""
    from ragcli.status import index_status

    def action() -> None:
        report = index_status(_settings(ctx, {}, index))
        if json_output:
            _print_json(report)
            return
        from ragcli.cli.rendering import render_status

        typer.echo(render_status(report))

    _run(ctx, action)


sources_app = typer.Typer(help="List the folders the index re-syncs, or remove one with its documents.", no_args_is_help=False)
app.add_typer(sources_app, name="sources")


@sources_app.callback(invoke_without_command=True)
def sources_list(
    ctx: typer.Context,
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """List the remembered folders with their document and chunk counts."""
    if ctx.invoked_subcommand is not None:
        return
    from ragcli.sources import list_sources

    def action() -> None:
        roots = list_sources(_settings(ctx, {}, index))
        if json_output:
            _print_json({"sources": [root.to_json() for root in roots]})
            return
        if not roots:
            typer.echo("No sources: run `rag ingest PATH...`.")
        for root in roots:
            missing = "" if root.exists else "  (missing: documents kept)"
            typer.echo(f"{root.path}  {root.documents} documents, {root.chunks} chunks{missing}")

    _run(ctx, action)


@sources_app.command("remove")
def sources_remove(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A folder or file exactly as `rag sources` lists it."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for a running ingest to finish."),
) -> None:
    """Forget a source and remove its documents from the index."""
    from ragcli.sources import remove_source

    def action() -> None:
        removed = remove_source(_settings(ctx, {}, index), path, wait_seconds=wait)
        if json_output:
            _print_json({"removed": removed.to_json()})
        else:
            typer.echo(f"removed source {removed.path}: {removed.documents} documents, {removed.chunks} chunks")

    _run(ctx, action)


@app.command()
def check(
    ctx: typer.Context,
    repair: bool = typer.Option(False, "--repair", help="Fix what can be fixed in place (takes the writer lock)."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
    wait: float = typer.Option(0.0, "--wait", min=0, help="With --repair: seconds to wait for a running ingest."),
) -> None:
    """Verify the index: catalog and vectors agree, every chunk has a vector and a full-text entry, no orphans."""
    from ragcli.check import check_index

    def action() -> int:
        report = check_index(_settings(ctx, {}, index), repair_damage=repair, wait_seconds=wait)
        if json_output:
            _print_json(report.to_json())
        else:
            from ragcli.cli.rendering import render_check

            typer.echo(render_check(report))
        return 0 if report.ok else EXIT_CHECK_FAILED

    _run(ctx, action)


@app.command()
def schedule(
    ctx: typer.Context,
    install: bool = typer.Option(False, "--install", help="Add the line to your crontab (replacing an earlier one for this index)."),
    at: Optional[str] = typer.Option(None, "--at", help="Daily time HH:MM (default 03:17)."),
    cron: Optional[str] = typer.Option(None, "--cron", help='A cron schedule instead of --at, e.g. "0 */6 * * *".'),
    log: Optional[Path] = typer.Option(None, "--log", help="Log file for the runs (default: next to the index, INDEX.log)."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """Print a crontab line that re-syncs this index's folders (`rag ingest` with no path) on a schedule."""
    from ragcli.schedule import build_schedule, install_schedule

    def action() -> None:
        settings = _settings(ctx, {}, index)
        plan = build_schedule(settings, config_file=ctx.obj.config, environ=dict(os.environ), at=at, expression=cron, log=log)
        if install:
            install_schedule(plan)
        if json_output:
            _print_json({**plan.to_json(), "installed": install})
            return
        typer.echo(plan.line)
        if install:
            typer.echo(f"installed in your crontab; runs log to {plan.log}", err=True)

    _run(ctx, action)


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    qa_file: Path = typer.Argument(..., help="Questions, one JSON object per line (the format of shared/eval/devset/qa.jsonl)."),
    k: int = typer.Option(10, "--k", min=1, help="Passages retrieved per question."),
    answers: bool = typer.Option(False, "--answers", help="Also generate answers and score accuracy and abstention."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write per-question results (score.py format) to this JSONL file."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """Score retrieval (and with --answers, answering) on a QA file: recall@1/5/10 and MRR@10."""
    from ragcli.evaluation import evaluate

    def action() -> None:
        settings = _settings(ctx, {}, index)
        report = evaluate(settings, qa_file, k=k, with_answers=answers, out_path=out)
        if json_output:
            _print_json(report.to_json())
            return
        typer.echo(f"{'group':<10} {'n':>4} {'R@1':>7} {'R@5':>7} {'R@10':>7} {'MRR@10':>7}")
        groups = {"overall": {"n": sum(g.get("n", 0) for g in report.by_corpus.values()), **{f"recall@{kk}": v for kk, v in report.recall.items()}, "mrr@10": report.mrr10}}
        groups.update({name: g for name, g in report.by_corpus.items() if g.get("n")})
        for name, g in groups.items():
            typer.echo(f"{name:<10} {g['n']:>4} {g['recall@1']:>7.3f} {g['recall@5']:>7.3f} {g['recall@10']:>7.3f} {g['mrr@10']:>7.3f}")
        typer.echo(f"median search latency: {report.search_ms_median:.1f} ms; second stage: {report.reranker or 'off'}")
        if answers:
            typer.echo(
                f"answer accuracy: {report.answer_accuracy}, abstention precision: {report.abstention_precision}, "
                f"abstention recall: {report.abstention_recall}"
            )

    _run(ctx, action)


# Registered last: the module adds its command to `app`.
from ragcli.cli import chat as _chat  # noqa: E402,F401


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
