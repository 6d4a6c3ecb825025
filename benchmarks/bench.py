"""Benchmark ragcli on the dev corpora, side by side with the naive baseline, and write RESULTS.md.

Measures, in one run on this machine: ingest wall time, chunks/s and pages/s,
peak memory; re-ingest of the unchanged corpus; retrieval quality (score.py)
for the naive baseline and ragcli's variants; in-process search latency;
`rag search` cold-process wall time; and `rag ask` time to first token and
tokens/s for each generator asked for.

    .venv/bin/python benchmarks/bench.py [--generators qwen2.5-coder-0.5b,smollm2-135m] [--ask-questions 10]

Needs the corpora (apt-get install git-doc gnuplot-doc) and ../shared/eval.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "eval" / "devset"
VENV_BIN = Path(sys.executable).parent


def measured_in_child(command: list[str], env: dict) -> tuple[float, float, str]:
    """Wall time and peak RSS (MiB) of one command, measured by a wrapper process of its own."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'wall': wall, 'rss': rss, 'rc': p.returncode, 'stdout': p.stdout}))\n"
    )
    result = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, env=env)
    data = json.loads(result.stdout)
    if data["rc"] not in (0, 3):
        raise SystemExit(f"{' '.join(command)} failed ({data['rc']}):\n{result.stderr[-3000:]}")
    return data["wall"], data["rss"], data["stdout"]


def score(results: Path, qa: Path) -> dict:
    output = subprocess.run(
        [sys.executable, str(SHARED_EVAL / "score.py"), str(results), "--qa", str(qa), "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(output[output.index("{"):])


def prepare_corpus(work: Path, git_doc: Path, gnuplot_pdf: Path) -> list[Path]:
    """Copy the two corpora (git HTML files, gnuplot.pdf) so other files in those folders stay out."""
    git_root = work / "corpus" / "git-doc"
    for html in git_doc.rglob("*.html"):
        target = git_root / html.relative_to(git_doc)
        target.parent.mkdir(parents=True, exist_ok=True)
        if html.is_symlink():
            target.symlink_to(os.readlink(html))
        else:
            shutil.copy2(html, target)
    pdf_root = work / "corpus" / "gnuplot"
    pdf_root.mkdir(parents=True)
    shutil.copy2(gnuplot_pdf, pdf_root / "gnuplot.pdf")
    return [git_root, pdf_root]


def overall(scores: dict) -> dict:
    return scores.get("overall", scores)


def fmt_row(name: str, s: dict, extra: str = "") -> str:
    o = overall(s)
    cells = [o.get(k) for k in ("recall@1", "recall@5", "recall@10", "mrr@10")]
    return f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + f" | {extra} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-doc", type=Path, default=Path("/usr/share/doc/git-doc"))
    parser.add_argument("--gnuplot-pdf", type=Path, default=Path("/usr/share/doc/gnuplot/gnuplot.pdf"))
    parser.add_argument("--qa", type=Path, default=SHARED_EVAL / "qa.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--generators", default="", help="Comma-separated generators to time with `ask`; NAME@THREADS pins the thread count.")
    parser.add_argument("--ask-questions", type=int, default=6)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()

    for needed in (args.git_doc, args.gnuplot_pdf, args.qa):
        if not needed.exists():
            raise SystemExit(f"missing {needed}: apt-get install git-doc gnuplot-doc, and keep ../shared/eval beside the repo")

    work = Path(tempfile.mkdtemp(prefix="ragbench-"))
    roots = prepare_corpus(work, args.git_doc, args.gnuplot_pdf)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_INDEX": str(work / "index"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    rag = [str(VENV_BIN / "rag")]
    results: dict = {"machine": f"{os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d %H:%M")}

    if not args.skip_naive:
        naive_out = work / "naive.jsonl"
        wall, rss, stdout = measured_in_child(
            [sys.executable, str(ROOT / "benchmarks" / "naive_baseline.py"), *sum((["--corpus", str(r)] for r in roots), []),
             "--qa", str(args.qa), "--out", str(naive_out)], env)
        results["naive"] = {"wall": wall, "rss": rss, **json.loads(stdout.strip().splitlines()[-1]), "scores": score(naive_out, args.qa)}
        print("naive", results["naive"]["wall"], flush=True)

    wall, rss, stdout = measured_in_child(rag + ["ingest", *map(str, roots), "--json"], env)
    report = json.loads(stdout)
    status = json.loads(subprocess.run(rag + ["status", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    results["ingest"] = {"wall": wall, "rss": rss, "chunks": report["chunks"], "files": report["indexed"], "pages": status["pages"],
                         "failed": report["failed"], "size_bytes": status["size_bytes"]}
    print("ingest", wall, flush=True)
    rewall, _, restdout = measured_in_child(rag + ["ingest", "--json"], env)
    results["reingest"] = {"wall": rewall, **json.loads(restdout)}

    variants = {
        "ragcli hybrid (default)": {},
        "ragcli dense only": {"RAG_RETRIEVAL_LEXICAL": "0"},
        "ragcli lexical only": {"RAG_RETRIEVAL_DENSE_WEIGHT": "0.001"},
    }
    results["variants"] = {}
    for name, extra in variants.items():
        out = work / f"eval-{len(results['variants'])}.jsonl"
        _, _, stdout = measured_in_child(rag + ["eval", str(args.qa), "--json", "--out", str(out)], {**env, **extra})
        report = json.loads(stdout)
        results["variants"][name] = {"scores": score(out, args.qa), "search_ms_median": report["search_ms_median"],
                                     "search_ms_p95": report.get("search_ms_p95")}
    cold = []
    for _ in range(args.cold_runs):
        wall, _, _ = measured_in_child(rag + ["search", "git ls-tree whole tree", "--json"], env)
        cold.append(wall)
    results["cold_search"] = {"median": statistics.median(cold), "runs": cold}
    results["help_wall"] = statistics.median(measured_in_child(rag + ["--help"], env)[0] for _ in range(3))

    results["generators"] = {}
    generators = [g.partition("@")[::2] for g in args.generators.split(",") if g]
    if generators:
        questions = [json.loads(line) for line in args.qa.read_text().splitlines()]
        answerable = [q for q in questions if q.get("kind") != "unanswerable"]
        picked = (answerable[: args.ask_questions // 2] + answerable[30 : 30 + args.ask_questions - args.ask_questions // 2])
        for generator, thread in generators:
            code = (
                "import json, sys, time\n"
                "from ragcli.config import load_settings\n"
                "from ragcli.answering import Answerer\n"
                f"flags = {{'generation.model': {generator!r}}}\n"
                f"if {thread!r}: flags['generation.threads'] = int({thread!r})\n"
                "settings = load_settings(flags=flags)\n"
                "t = time.perf_counter(); a = Answerer.open(settings); load = time.perf_counter() - t\n"
                "a.ask('warm up the model')\n"
                "rows = []\n"
                "for q in json.loads(sys.argv[1]):\n"
                "    r = a.ask(q, on_text=lambda s: None)\n"
                "    if r.seconds_to_first_token is None: continue\n"
                "    gen = r.seconds - r.seconds_to_first_token\n"
                "    rows.append({'ttft': r.seconds_to_first_token, 'tps': r.completion_tokens / gen if gen > 0 else None})\n"
                "print(json.dumps({'load': load, 'rows': rows}))\n"
            )
            output = subprocess.run([sys.executable, "-c", code, json.dumps([q["question"] for q in picked])],
                                    env=env, capture_output=True, text=True)
            if output.returncode != 0:
                print(output.stderr[-2000:], file=sys.stderr)
                continue
            data = json.loads(output.stdout.strip().splitlines()[-1])
            rows = data["rows"]
            key = generator + (f" ({thread} threads)" if thread else "")
            results["generators"][key] = {
                "load": data["load"],
                "ttft_median": statistics.median(r["ttft"] for r in rows) if rows else None,
                "tps_median": statistics.median(r["tps"] for r in rows if r["tps"]) if rows else None,
                "n": len(rows),
            }
            print(key, results["generators"][key], flush=True)

    (work / "results.json").write_text(json.dumps(results, indent=2))
    write_markdown(results, args.out)
    print(f"wrote {args.out}; raw numbers in {work / 'results.json'}")


def write_markdown(r: dict, out: Path) -> None:
    ing = r["ingest"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured by `benchmarks/bench.py` on {r['date']}, {r['machine']}, one run, all rows side by side.",
        "Corpora: the dev set of shared/eval (git-doc HTML, 241 files; gnuplot.pdf, 311 pages). Quality is",
        "scored by shared/eval/devset/score.py over the 60 answerable questions.",
        "",
        "## Retrieval quality",
        "",
        "| pipeline | recall@1 | recall@5 | recall@10 | MRR@10 | notes |",
        "|---|---|---|---|---|---|",
    ]
    if "naive" in r:
        n = r["naive"]
        lines.append(fmt_row("naive baseline (1000-char chunks, MiniLM, flat FAISS)", n["scores"], f"{n['chunks']} chunks"))
    for name, v in r["variants"].items():
        lines.append(fmt_row(name, v["scores"], f"search p50 {v['search_ms_median']:.1f} ms, p95 {v['search_ms_p95']:.1f} ms"))
    lines += ["", "Per corpus (ragcli hybrid):", "", "| corpus | recall@1 | recall@5 | recall@10 | MRR@10 | |", "|---|---|---|---|---|---|"]
    default = r["variants"]["ragcli hybrid (default)"]["scores"]
    for corpus in ("git", "gnuplot"):
        if corpus in default:
            lines.append(fmt_row(corpus, default[corpus]))
    if "naive" in r:
        lines += ["", "Per corpus (naive baseline):", "", "| corpus | recall@1 | recall@5 | recall@10 | MRR@10 | |", "|---|---|---|---|---|---|"]
        for corpus in ("git", "gnuplot"):
            if corpus in r["naive"]["scores"]:
                lines.append(fmt_row(corpus, r["naive"]["scores"][corpus]))
    lines += [
        "",
        "## Ingest",
        "",
        "| pipeline | wall s | chunks | chunks/s | pages+files/s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    units = ing["pages"] + ing["files"] - 1
    if "naive" in r:
        n = r["naive"]
        lines.append(f"| naive baseline | {n['wall']:.1f} | {n['chunks']} | {n['chunks'] / n['wall']:.1f} | {units / n['wall']:.2f} | {n['rss']:.0f} |")
    lines.append(f"| ragcli ingest | {ing['wall']:.1f} | {ing['chunks']} | {ing['chunks'] / ing['wall']:.1f} | {units / ing['wall']:.2f} | {ing['rss']:.0f} |")
    re_ = r["reingest"]
    lines += [
        "",
        f"Re-ingest of the unchanged corpus: {re_['wall']:.2f} s wall ({re_['unchanged']} unchanged files), "
        f"{100 * re_['wall'] / ing['wall']:.1f}% of the first ingest. Index size on disk: {ing['size_bytes'] / 2**20:.1f} MiB.",
        "",
        "## Query",
        "",
        f"- `rag search` as a new process (model load included): median {r['cold_search']['median']:.2f} s over "
        f"{len(r['cold_search']['runs'])} runs; `rag --help`: {r['help_wall']:.2f} s.",
        f"- In-process search (hybrid, 70 questions): p50 {r['variants']['ragcli hybrid (default)']['search_ms_median']:.1f} ms, "
        f"p95 {r['variants']['ragcli hybrid (default)']['search_ms_p95']:.1f} ms.",
    ]
    if r["generators"]:
        lines += ["", "## Generation (`rag ask`, in process, model loaded once)", "",
                  "| generator | load s | time to first token s (median) | tokens/s (median) | questions |", "|---|---|---|---|---|"]
        for name, g in r["generators"].items():
            ttft = "n/a" if g["ttft_median"] is None else f"{g['ttft_median']:.2f}"
            tps = "n/a" if g["tps_median"] is None else f"{g['tps_median']:.1f}"
            lines.append(f"| {name} | {g['load']:.1f} | {ttft} | {tps} | {g['n']} |")
        lines += ["", "Time to first token counts from the question (retrieval included) to the first streamed token.",
                  "Answer quality per generator (`rag eval QA.jsonl --answers`) is in README.md, \"Choosing the default generator\"."]
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
