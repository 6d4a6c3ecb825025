"""The retrieval table of benchmarks/RESULTS.md: every pipeline measured side by side in one process.

Rows: the naive baseline (1000-character chunks, MiniLM, flat FAISS; its vectors
come from `naive_baseline.py --save-index DIR`, embedded once), ragcli dense
only, lexical only, hybrid, and hybrid + second stage. Quality is scored by
shared/eval/devset/score.py; latency is per query, in process, models loaded,
median and p95 over all questions. The second stage runs with its vector cache
off unless `--set reranking.cache=true` is given; `--cold N` then also times N
questions (spread over the file) with the cache off, the cost of a query whose
passages were never seen before.

    python benchmarks/naive_baseline.py --corpus C1 --corpus C2 --qa QA --out naive.jsonl --save-index NAIVE_DIR
    python benchmarks/retrieval_table.py --index INDEX --naive NAIVE_DIR [--qa QA] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "eval" / "devset"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import score  # noqa: E402  (score.py is run the same way by every benchmark)


def run_queries(name: str, questions: list[dict], search, work: Path, qa: Path) -> dict:
    lines, latencies = [], []
    for item in questions:
        started = time.perf_counter()
        hits = search(item["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        lines.append({"id": item["id"], "hits": hits})
    out = work / f"{name.replace(' ', '_').replace('+', 'plus')}.jsonl"
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    latencies.sort()
    return {
        "scores": score(out, qa),
        "ms_p50": statistics.median(latencies),
        "ms_p95": latencies[int(0.95 * (len(latencies) - 1))],
        "results": str(out),
    }


def naive_search(naive_dir: Path, embedder, k: int):
    import faiss
    import numpy as np

    vectors = np.load(naive_dir / "vectors.npy", allow_pickle=False)
    meta = json.loads((naive_dir / "meta.json").read_text())
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)

    def search(question: str) -> list[dict]:
        # The same MiniLM (fp32 ONNX gives sentence-transformers' vectors), unit length.
        query = embedder.embed([question])
        _, ids = index.search(query, k)
        return [{"path": meta[i][0], "page": meta[i][1]} for i in ids[0] if i >= 0]

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="A ragcli index of the dev corpora.")
    parser.add_argument("--naive", type=Path, help="Folder written by naive_baseline.py --save-index.")
    parser.add_argument("--qa", type=Path, default=SHARED_EVAL / "qa.jsonl")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, help="Write the raw numbers (JSON) here.")
    parser.add_argument("--cold", type=int, default=0, help="Also time the second stage cache-less on N questions.")
    parser.add_argument("--only", default="", help="Comma-separated row names to run (default: all).")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="Override a setting for every ragcli row (e.g. reranking.candidates=30).")
    args = parser.parse_args()

    from ragcli.config import load_settings
    from ragcli.embedding import load_embedder
    from ragcli.reranking import load_reranker
    from ragcli.retrieval.searcher import Searcher
    from ragcli.store.index import Index

    flags = dict(item.split("=", 1) for item in args.set)
    base = load_settings(flags={"index.dir": str(args.index), "reranking.cache": "false", **flags}, environ={})
    questions = [json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="retrieval-table-"))
    index = Index.open_for_reading(base)
    embedder = load_embedder(base)
    second = load_reranker(dataclasses.replace(base, reranking=dataclasses.replace(base.reranking, mode="on")))
    retrieval = base.retrieval

    def ragcli_row(reranker, **changes):
        settings = dataclasses.replace(base, retrieval=dataclasses.replace(retrieval, **changes))
        searcher = Searcher(settings, index, embedder, reranker)
        searcher.search("warm up")
        return lambda q: [{"path": h.path, "page": h.page} for h in searcher.search(q, args.k).hits]

    rows = {}
    if args.naive:
        rows["naive baseline (1000-char chunks, MiniLM, flat FAISS)"] = lambda: naive_search(args.naive, embedder, args.k)
    rows["ragcli dense only"] = lambda: ragcli_row(None, lexical=False)
    rows["ragcli lexical only"] = lambda: ragcli_row(None, dense_weight=0.0)
    rows["ragcli hybrid"] = lambda: ragcli_row(None)
    rows["ragcli hybrid + second stage"] = lambda: ragcli_row(second)
    wanted = [name for name in args.only.split(",") if name]
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "settings": flags, "rows": {}}
    for name, make in rows.items():
        key = name.removeprefix("ragcli ")
        # "hybrid" is that row alone, "dense" the dense-only row; a "+" row is asked for by its name.
        if wanted and not any(key == w or (key.split()[0] == w and "+" not in key) or ("+" in w and w in key) for w in wanted):
            continue
        results["rows"][name] = run_queries(name, questions, make(), work, args.qa)
        print(table_line(name, results["rows"][name]), flush=True)
    if args.cold and second is not None:
        cold_settings = dataclasses.replace(base, reranking=dataclasses.replace(base.reranking, mode="on", cache=False))
        cold_reranker = load_reranker(cold_settings)
        searcher = Searcher(cold_settings, index, embedder, cold_reranker)
        sample = questions[:: max(1, len(questions) // args.cold)][: args.cold]
        timings = []
        for item in sample:
            started = time.perf_counter()
            searcher.search(item["question"], args.k)
            timings.append((time.perf_counter() - started) * 1000)
        results["second_stage_cold_ms_p50"] = statistics.median(timings)
        results["second_stage_cold_n"] = len(timings)
        print(f"second stage, cache off: p50 {statistics.median(timings):.0f} ms over {len(timings)} questions", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print("\n".join(markdown(results)))


def table_line(name: str, row: dict) -> str:
    o = row["scores"].get("overall", row["scores"])
    cells = " | ".join(f"{o[key]:.3f}" for key in ("recall@1", "recall@5", "recall@10", "mrr@10"))
    per = " / ".join(
        f"{row['scores'][c]['recall@5']:.3f}, {row['scores'][c]['mrr@10']:.3f}" for c in ("git", "gnuplot") if c in row["scores"]
    )
    return f"| {name} | {cells} | {per} | {row['ms_p50']:.1f} | {row['ms_p95']:.1f} |"


def markdown(results: dict) -> list[str]:
    return [
        "| pipeline | recall@1 | recall@5 | recall@10 | MRR@10 | git / gnuplot (R@5, MRR@10) | ms/query p50 | ms/query p95 |",
        "|---|---|---|---|---|---|---|---|",
        *(table_line(name, row) for name, row in results["rows"].items()),
    ]


if __name__ == "__main__":
    main()
