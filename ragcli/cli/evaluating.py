"""`rag eval`: score retrieval (and answers) on a question file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, print_json, run_command, settings_for
from ragcli.cli.options import IndexOption, JsonOption
from ragcli.cli.terminal import echo, one_line
from ragcli.errors import UsageError


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    qa_file: Optional[Path] = typer.Argument(
        None, metavar="QA.jsonl", show_default=False,
        help='Questions, one JSON object per line: {"id", "question", "answer", "gold": [{"path", "page"}], "kind"} (README, "JSON output"; configs/sample-qa.jsonl is an example over sample_docs/).',
    ),
    k: int = typer.Option(10, "-k", "--top-k", "--k", min=1, metavar="N", help="Passages retrieved per question."),
    answers: bool = typer.Option(False, "--answers", help="Also generate answers and score accuracy and abstention."),
    out: Optional[Path] = typer.Option(
        None, "--out", metavar="FILE", help="Write per-question results (score.py format) to this JSONL file; with --generate, the questions.",
    ),
    generate: Optional[int] = typer.Option(
        None, "--generate", min=1, metavar="N",
        help="Instead of scoring, make N questions from the index with the local model (QA format; to --out, else stdout).",
    ),
    seed: int = typer.Option(0, "--seed", metavar="N", help="With --generate: which passages are drawn (the same seed gives the same file)."),
    html: Optional[Path] = typer.Option(
        None, "--html", metavar="FILE",
        help="Also write a self-contained report page (recall@k curve, gold ranks, latency, every question) to this HTML file.",
    ),
    judge: bool = typer.Option(False, "--judge", help="With --answers: a local LLM grades each answer and each shown sentence (token probabilities)."),
    judge_model: Optional[str] = typer.Option(
        None, "--judge-model", metavar="NAME|FILE", help="The judge: a bundled name or GGUF path (default: verification.judge_model, else the answering model).",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run: questions already in --out are not run again."),
    index: Optional[Path] = IndexOption,
    json_output: bool = JsonOption,
) -> None:
    """Score retrieval (and with --answers, answering) on a QA file: recall@1/5/10 and MRR@10; --html draws it as a page."""
    from ragcli.evaluation import evaluate

    def action() -> None:
        if generate is not None:
            return generate_action()
        if qa_file is None:
            raise UsageError("rag eval needs a QA file to score", hint="rag eval configs/sample-qa.jsonl, or make one: rag eval --generate 50 --out qa.jsonl")
        if html is not None:
            from ragcli.evaluation_page import check_page_target

            check_page_target(html)  # before the questions run, not after
        if (judge or judge_model) and not answers:
            raise UsageError("--judge grades answers: add --answers", hint="rag eval QA.jsonl --answers --judge")
        if resume and out is None:
            raise UsageError("--resume continues the run written to --out FILE", hint="rag eval QA.jsonl --answers --out results.jsonl --resume")
        from ragcli.cli.rendering import EvalProgress

        with EvalProgress() as progress:
            report = evaluate(
                settings_for(ctx, {}, index), qa_file, k=k, with_answers=answers, out_path=out,
                judge_model=(judge_model or "") if (judge or judge_model) else None, resume=resume, on_progress=progress.update,
            )
        if json_output:
            print_json(report.to_json())
        else:
            from ragcli.cli.rendering import render_eval

            echo(render_eval(report, answers))
        if html is not None:
            from ragcli.evaluation_page import write_page

            # After the scores are out: a page that cannot be written loses nothing else.
            write_page(report, html)
            echo(f"report page: {one_line(html)}", err=True)

    def generate_action() -> None:
        if qa_file is not None:
            raise UsageError("--generate makes a QA file: leave out QA.jsonl and name it with --out", hint="rag eval --generate 50 --out qa.jsonl")
        if answers or judge or judge_model or html is not None:
            raise UsageError("--generate only makes questions: score them in a second run", hint="rag eval --generate 50 --out qa.jsonl && rag eval qa.jsonl --answers")
        if resume and out is None:
            raise UsageError("--resume continues the file named by --out", hint="rag eval --generate 50 --out qa.jsonl --resume")
        if json_output and out is None:
            raise UsageError("--json prints a summary, and without --out the questions go to stdout too", hint="Add --out qa.jsonl.")
        import sys

        from ragcli.cli.rendering import EvalProgress, render_generation
        from ragcli.evaluation_generate import generate_questions

        settings = settings_for(ctx, {}, index)
        try:
            target = open(out, "a" if resume else "w", encoding="utf-8") if out is not None else sys.stdout
        except OSError as exc:
            raise UsageError(f"cannot write questions to {out}: {exc.strerror}", hint="Pass an --out path in an existing, writable folder.") from exc
        try:
            with EvalProgress("generate") as progress:
                report = generate_questions(settings, generate, out=target, out_path=out, seed=seed, resume=resume, on_progress=progress.update)
        finally:
            if out is not None:
                target.close()
        if json_output:
            print_json(report.to_json())
        else:
            echo(render_generation(report), err=out is None)

    run_command(ctx, action)
