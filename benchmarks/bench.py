"""Benchmark ragcli on the dev corpora, side by side with the LangChain peer, and write RESULTS.md.

Measures, in one run on this machine: ingest wall time, chunks/s and pages/s,
peak memory, for ragcli (each embedding variant asked for) and for LangChain's
usual pipeline (benchmarks/peer_langchain.py in benchmarks/.peer-venv, made by
benchmarks/setup_peer.sh) on the same files with the same MiniLM weights;
re-ingest of the unchanged corpus; retrieval quality (score.py); in-process
search latency; `rag search`, `rag status` and `rag --help` cold-process wall
times; and `rag ask` time to first token and tokens/s for each generator asked for.

    .venv/bin/python benchmarks/bench.py [--variants onnx-int8,onnx-fp32,torch] [--generators qwen2.5-coder-0.5b]

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
PEER_PYTHON = ROOT / "benchmarks" / ".peer-venv" / "bin" / "python"
# Embedding variants: the environment that selects each.
VARIANTS = {
    "default": {},
    "onnx-int8": {"RAG_EMBEDDING_BACKEND": "onnx", "RAG_EMBEDDING_PRECISION": "int8"},
    "onnx-fp32": {"RAG_EMBEDDING_BACKEND": "onnx", "RAG_EMBEDDING_PRECISION": "fp32"},
    "torch": {"RAG_EMBEDDING_BACKEND": "torch", "RAG_EMBEDDING_PRECISION": "fp32"},
    # configs/fast.toml: int8 vectors of each chunk's first 64 tokens.
    "fast": {"RAG_EMBEDDING_BACKEND": "onnx", "RAG_EMBEDDING_PRECISION": "int8", "RAG_EMBEDDING_READ_TOKENS": "64"},
    "first-96-int8": {"RAG_EMBEDDING_BACKEND": "onnx", "RAG_EMBEDDING_PRECISION": "int8", "RAG_EMBEDDING_READ_TOKENS": "96"},
    "first-128": {"RAG_EMBEDDING_BACKEND": "onnx", "RAG_EMBEDDING_PRECISION": "fp32", "RAG_EMBEDDING_READ_TOKENS": "128"},
    # A token table distilled from MiniLM (model2vec's method): no transformer at ingest.
    "static": {"RAG_EMBEDDING_BACKEND": "static", "RAG_EMBEDDING_PRECISION": "fp32"},
}


def machine_load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


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


def prepare_corpus(work: Path, git_doc: Path, gnuplot_pdf: Path, qa: Path, html_files: int = 0) -> list[Path]:
    """Copy the two corpora (git HTML files, gnuplot.pdf) so other files in those folders stay out.

    ``html_files`` > 0 keeps only that many HTML files: every file a dev question's answer is in,
    then the others in name order (a smaller run when the cores are busy; both pipelines get the same files).
    """
    git_root = work / "corpus" / "git-doc"
    pages = sorted(git_doc.rglob("*.html"))
    if html_files:
        gold = {g["path"] for line in qa.read_text().splitlines() for g in json.loads(line).get("gold", []) if g["path"].endswith(".html")}
        golden = [p for p in pages if p.relative_to(git_doc).as_posix() in gold]
        others = [p for p in pages if p not in golden]
        pages = golden + others[: max(0, html_files - len(golden))]
    for html in pages:
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
    parser.add_argument("--naive", action="store_true", help="also run benchmarks/naive_baseline.py")
    parser.add_argument("--skip-peer", action="store_true", help="do not run the LangChain peer")
    parser.add_argument("--variants", default="default",
                        help=f"comma-separated embedding variants to ingest and score ({', '.join(VARIANTS)}); the first is timed for re-ingest and queries")
    parser.add_argument("--generators", default="", help="Comma-separated generators to time with `ask`; NAME@THREADS pins the thread count.")
    parser.add_argument("--ask-questions", type=int, default=6)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--html-files", type=int, default=0, help="use only this many git HTML files (all with dev answers first); 0: all")
    args = parser.parse_args()

    for needed in (args.git_doc, args.gnuplot_pdf, args.qa):
        if not needed.exists():
            raise SystemExit(f"missing {needed}: apt-get install git-doc gnuplot-doc, and keep ../shared/eval beside the repo")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    run_peer = not args.skip_peer
    if run_peer and not PEER_PYTHON.exists():
        raise SystemExit("the LangChain peer is not installed: run bash benchmarks/setup_peer.sh (or pass --skip-peer)")

    work = Path(tempfile.mkdtemp(prefix="ragbench-"))
    roots = prepare_corpus(work, args.git_doc, args.gnuplot_pdf, args.qa, args.html_files)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    base_env.update({"RAG_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    rag = [str(VENV_BIN / "rag")]
    results: dict = {"machine": f"{os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d %H:%M"), "load_start": machine_load(),
                     "html_files": len(list(roots[0].rglob("*.html")))}

    # The ONNX exports are made once per machine (the first ingest or search pays for them); time them apart.
    results["export"] = {}
    for variant in variants:
        extra = VARIANTS[variant]
        code = ("import time; from ragcli.config import load_settings; from ragcli.embedding import load_embedder\n"
                "s = load_settings(); t = time.perf_counter(); load_embedder(s).embed(['warm up']);"
                " print(time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", code], env={**base_env, **extra}, capture_output=True, text=True, check=True)
        results["export"][variant] = float(out.stdout.strip().splitlines()[-1])

    if args.naive:
        naive_out = work / "naive.jsonl"
        wall, rss, stdout = measured_in_child(
            [sys.executable, str(ROOT / "benchmarks" / "naive_baseline.py"), *sum((["--corpus", str(r)] for r in roots), []),
             "--qa", str(args.qa), "--out", str(naive_out)], base_env)
        results["naive"] = {"wall": wall, "rss": rss, **json.loads(stdout.strip().splitlines()[-1]), "scores": score(naive_out, args.qa)}
        print("naive", results["naive"]["wall"], flush=True)

    if run_peer:
        peer_out = work / "peer.jsonl"
        wall, rss, stdout = measured_in_child(
            [str(PEER_PYTHON), str(ROOT / "benchmarks" / "peer_langchain.py"), *sum((["--corpus", str(r)] for r in roots), []),
             "--qa", str(args.qa), "--out", str(peer_out)], base_env)
        results["peer"] = {"wall": wall, "rss": rss, **json.loads(stdout.strip().splitlines()[-1]), "scores": score(peer_out, args.qa)}
        print("peer", results["peer"]["wall"], flush=True)

    results["ingests"] = {}
    for variant in variants:
        env = {**base_env, **VARIANTS[variant], "RAG_INDEX": str(work / f"index-{variant}")}
        wall, rss, stdout = measured_in_child(rag + ["ingest", *map(str, roots), "--json"], env)
        report = json.loads(stdout)
        status = json.loads(subprocess.run(rag + ["status", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
        out = work / f"eval-{variant}.jsonl"
        _, _, eval_stdout = measured_in_child(rag + ["eval", str(args.qa), "--json", "--out", str(out)], env)
        evaluation = json.loads(eval_stdout)
        results["ingests"][variant] = {
            "wall": wall, "rss": rss, "chunks": report["chunks"], "files": report["indexed"], "pages": status["pages"],
            "failed": report["failed"], "size_bytes": status["size_bytes"], "scores": score(out, args.qa),
            "search_ms_median": evaluation["search_ms_median"], "search_ms_p95": evaluation.get("search_ms_p95"),
        }
        print("ingest", variant, wall, flush=True)

    main_variant = variants[0]
    env = {**base_env, **VARIANTS[main_variant], "RAG_INDEX": str(work / f"index-{main_variant}")}
    rewalls = []
    for _ in range(3):
        rewall, _, restdout = measured_in_child(rag + ["ingest", "--json"], env)
        rewalls.append(rewall)
    results["reingest"] = {"wall": statistics.median(rewalls), "runs": rewalls, **json.loads(restdout)}

    retrieval_variants = {
        "dense only": {"RAG_RETRIEVAL_LEXICAL": "0"},
        "lexical only": {"RAG_RETRIEVAL_DENSE_WEIGHT": "0.001"},
    }
    results["variants"] = {}
    for name, extra in retrieval_variants.items():
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
    results["status_wall"] = statistics.median(measured_in_child(rag + ["status"], env)[0] for _ in range(3))

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
                "from ragcli.answer.answerer import Answerer\n"
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

    results["load_end"] = machine_load()
    (work / "results.json").write_text(json.dumps(results, indent=2))
    write_markdown(results, args.out)
    print(f"wrote {args.out}; raw numbers in {work / 'results.json'}")


def write_markdown(r: dict, out: Path) -> None:
    variants = list(r["ingests"])
    main_variant = variants[0]
    ing = r["ingests"][main_variant]
    units = ing["pages"] + ing["files"] - 1
    lines = [
        "# Benchmark results",
        "",
        f"Measured by `benchmarks/bench.py` on {r['date']}, {r['machine']}, one run, all rows side by side.",
        f"Machine load when the run started: {r['load_start']}; when it ended: {r['load_end']} (a load above the",
        "benchmark's own share means other jobs shared the cores and absolute times are inflated; the ratios",
        "compare runs made under the same conditions).",
        f"Corpora: the dev set of shared/eval (git-doc HTML, {r['html_files']} files"
        + (" of 241: those holding a dev answer first, then others by name" if r["html_files"] < 241 else "")
        + "; gnuplot.pdf, 311 pages). Quality is",
        "scored by shared/eval/devset/score.py over the 60 answerable questions.",
        "",
        "## Ingest, side by side with LangChain",
        "",
        "| pipeline | wall s | chunks | chunks/s | pages+files/s | peak RSS MiB | recall@5 | MRR@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, wall: float, chunks: int, rss: float, scores: dict) -> str:
        o = overall(scores)
        return (f"| {name} | {wall:.1f} | {chunks} | {chunks / wall:.1f} | {units / wall:.2f} | {rss:.0f} | "
                f"{o.get('recall@5', 0):.3f} | {o.get('mrr@10', 0):.3f} |")

    if "peer" in r:
        p = r["peer"]
        lines.append(row("LangChain (PyPDFLoader/BSHTMLLoader, RecursiveCharacterTextSplitter 1000/200, HuggingFaceEmbeddings, FAISS)",
                         p["wall"], p["chunks"], p["rss"], p["scores"]))
    if "naive" in r:
        n = r["naive"]
        lines.append(row("naive baseline (1000-char chunks, MiniLM, flat FAISS)", n["wall"], n["chunks"], n["rss"], n["scores"]))
    for variant in variants:
        v = r["ingests"][variant]
        lines.append(row(f"ragcli ingest, embedding {variant}", v["wall"], v["chunks"], v["rss"], v["scores"]))
    lines.append("")
    if "peer" in r:
        p = r["peer"]
        lines.append(f"LangChain's own split: model load {p['model_load_seconds']} s, load+split {p['parse_seconds']} s, "
                     f"embed+index {p['embed_seconds']} s ({p['chunks_per_second']} chunks/s).")
        lines.append("")
        lines.append("| ragcli variant | LangChain wall / ragcli wall (target >= 3x) | recall@5 ragcli vs LangChain |")
        lines.append("|---|---|---|")
        for variant in variants:
            v = r["ingests"][variant]
            mine, theirs = overall(v["scores"]).get("recall@5", 0), overall(p["scores"]).get("recall@5", 0)
            lines.append(f"| {variant} | {ratio(p['wall'], v['wall'])} | {mine:.3f} vs {theirs:.3f} |")
        lines.append("")
    exports = ", ".join(f"{k} {v:.1f} s" for k, v in r["export"].items())
    lines += [
        f"One-time ONNX export (per machine and model folder, cached; not in the ingest times above): {exports}.",
        "",
        f"Re-ingest of the unchanged corpus ({main_variant}): median {r['reingest']['wall']:.2f} s wall over "
        f"{len(r['reingest']['runs'])} runs ({r['reingest']['unchanged']} unchanged files), "
        f"{100 * r['reingest']['wall'] / ing['wall']:.1f}% of the first ingest (target < 2%). "
        f"Index size on disk: {ing['size_bytes'] / 2**20:.1f} MiB.",
        "",
        "## Retrieval quality",
        "",
        "| pipeline | recall@1 | recall@5 | recall@10 | MRR@10 | notes |",
        "|---|---|---|---|---|---|",
    ]
    if "peer" in r:
        lines.append(fmt_row("LangChain peer", r["peer"]["scores"], f"{r['peer']['chunks']} chunks"))
    if "naive" in r:
        lines.append(fmt_row("naive baseline", r["naive"]["scores"], f"{r['naive']['chunks']} chunks"))
    for variant in variants:
        v = r["ingests"][variant]
        lines.append(fmt_row(f"ragcli hybrid, {variant}", v["scores"], f"search p50 {v['search_ms_median']:.1f} ms, p95 {v['search_ms_p95']:.1f} ms"))
    for name, v in r["variants"].items():
        lines.append(fmt_row(f"ragcli {name}, {main_variant}", v["scores"], f"search p50 {v['search_ms_median']:.1f} ms, p95 {v['search_ms_p95']:.1f} ms"))
    lines += ["", f"Per corpus (ragcli hybrid, {main_variant}):", "", "| corpus | recall@1 | recall@5 | recall@10 | MRR@10 | |", "|---|---|---|---|---|---|"]
    for corpus in ("git", "gnuplot"):
        if corpus in ing["scores"]:
            lines.append(fmt_row(corpus, ing["scores"][corpus]))
    if "peer" in r:
        lines += ["", "Per corpus (LangChain peer):", "", "| corpus | recall@1 | recall@5 | recall@10 | MRR@10 | |", "|---|---|---|---|---|---|"]
        for corpus in ("git", "gnuplot"):
            if corpus in r["peer"]["scores"]:
                lines.append(fmt_row(corpus, r["peer"]["scores"][corpus]))
    cold = r["cold_search"]
    lines += [
        "",
        "## Query",
        "",
        f"- `rag search` as a new process ({main_variant}, model load included): median {cold['median']:.2f} s over "
        f"{len(cold['runs'])} runs (target < 1.0 s); runs: {', '.join(f'{x:.2f}' for x in cold['runs'])}.",
        f"- `rag --help`: {r['help_wall']:.2f} s; `rag status`: {r['status_wall']:.2f} s (medians of 3).",
        f"- In-process search (hybrid, 70 questions): p50 {ing['search_ms_median']:.1f} ms, p95 {ing['search_ms_p95']:.1f} ms.",
    ]
    if "peer" in r:
        lines.append(f"- LangChain in-process similarity_search: median {r['peer']['query_ms_median']} ms.")
    if r["generators"]:
        lines += ["", "## Generation (`rag ask`, in process, model loaded once)", "",
                  "| generator | load s | time to first token s (median) | tokens/s (median) | questions |", "|---|---|---|---|---|"]
        for name, g in r["generators"].items():
            ttft = "n/a" if g["ttft_median"] is None else f"{g['ttft_median']:.2f}"
            tps = "n/a" if g["tps_median"] is None else f"{g['tps_median']:.1f}"
            lines.append(f"| {name} | {g['load']:.1f} | {ttft} | {tps} | {g['n']} |")
        lines += ["", "Time to first token counts from the question (retrieval included) to the first streamed token."]
    scale = ROOT / "benchmarks" / "SCALE.md"
    if scale.exists():
        lines += ["", "## Scale (1,000,000 chunks)", "", f"See {scale.name} (benchmarks/scale.py)."]
    lines += kept_sections(out)
    out.write_text("\n".join(lines) + "\n")


# Sections that other scripts write into RESULTS.md (retrieval_table.py, answer_quality.py): a rerun keeps them.
# The sections this script writes (replaced on each run, with the notes on the run they replace);
# every other section of RESULTS.md was written by another benchmark or by hand and is kept.
WRITTEN_SECTIONS = (
    "## Ingest, side by side with LangChain", "## Retrieval quality", "## Query",
    "## Generation (`rag ask`, in process, model loaded once)", "## Scale (1,000,000 chunks)",
)
REPLACED_NOTES = "## Notes on this run"


def kept_sections(out: Path) -> list[str]:
    if not out.exists():
        return []
    kept: list[str] = []
    keeping = False
    for line in out.read_text().splitlines():
        if line.startswith("## "):
            keeping = line.rstrip() not in WRITTEN_SECTIONS and not line.startswith(REPLACED_NOTES)
            if keeping:
                kept.append("")
        if keeping:
            kept.append(line.rstrip())
    return kept


if __name__ == "__main__":
    main()
