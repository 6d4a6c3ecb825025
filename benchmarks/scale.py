"""Scale check of ragcli's vector store on a synthetic collection (default 1,000,000 x 384-d).

Builds the index exactly as `rag ingest` would (ragcli.store.vectors.FaissVectorStore,
with the chosen index.* settings), saves it with write_index, then measures in a
fresh process that only opens the saved file: resident memory, query latency
p50/p95 (one query at a time, as `rag search` does) and recall@10 against exact
(brute-force) search over the same vectors.

The vectors imitate text embeddings: unit vectors scattered around cluster
centres. With --centers-from INDEX_DIR the centres are the real MiniLM chunk
vectors of an index (so the directions are real ones); otherwise random.
Queries are drawn the same way and are not in the collection.

    .venv/bin/python benchmarks/scale.py [--n 1000000] [--centers-from ~/.local/share/ragcli/index]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.config import IndexSettings  # noqa: E402
from ragcli.store.vectors import FaissVectorStore  # noqa: E402


def centres(dimension: int, count: int, source: Path | None, rng: np.random.Generator) -> np.ndarray:
    if source is not None:
        with sqlite3.connect(f"file:{source / 'catalog.sqlite3'}?mode=ro", uri=True) as db:
            rows = [np.frombuffer(blob, dtype=np.float32) for (blob,) in db.execute("SELECT vector FROM chunks")]
        real = np.stack([row for row in rows if row.shape == (dimension,)])
        return real
    raw = rng.normal(size=(count, dimension)).astype(np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def sample(centre_vectors: np.ndarray, n: int, noise: float, rng: np.random.Generator, block: int = 100_000) -> np.ndarray:
    """n unit vectors, each a random centre plus Gaussian noise of total norm about ``noise``."""
    dimension = centre_vectors.shape[1]
    out = np.empty((n, dimension), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        picks = rng.integers(0, len(centre_vectors), size=stop - start)
        rows = centre_vectors[picks] + rng.normal(scale=noise / np.sqrt(dimension), size=(stop - start, dimension)).astype(np.float32)
        out[start:stop] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 200_000) -> np.ndarray:
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), block):
        scores = queries @ vectors[start : start + block].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        cand_scores = np.take_along_axis(scores, top, axis=1)
        merged_scores = np.concatenate([best_scores, cand_scores], axis=1)
        merged_ids = np.concatenate([best_ids, top + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


QUERY_CHILD = r"""
import json, statistics, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from ragcli.config import IndexSettings
from ragcli.store.vectors import FaissVectorStore
from pathlib import Path
args = json.loads(sys.argv[2])
queries = np.load(args["queries"])
truth = np.load(args["truth"])
def rss(field):
    # ru_maxrss survives exec on Linux (it would report the parent's peak): read this process's own numbers.
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
rss_before = rss("VmRSS")
rows = []
for nprobe in args["nprobes"]:
    started = time.perf_counter()
    store = FaissVectorStore(queries.shape[1], IndexSettings(nprobe=nprobe, mmap=args["mmap"]))
    store.load(Path(args["index"]))
    load_s = time.perf_counter() - started
    store.search(queries[0], 10)
    times, hits = [], 0
    for query, expected in zip(queries, truth):
        t = time.perf_counter()
        found = store.search(query, 10)
        times.append((time.perf_counter() - t) * 1000)
        hits += len({i for i, _ in found} & set(expected.tolist()))
    times.sort()
    rows.append({"nprobe": nprobe, "load_s": load_s, "p50_ms": statistics.median(times),
                 "p95_ms": times[int(0.95 * (len(times) - 1))], "recall@10": hits / (10 * len(queries)), "layout": store.layout})
    del store
    rows[-1]["rss_after_queries_mib"] = rss("VmRSS")
print(json.dumps({"rows": rows, "rss_mib": rss("VmHWM"), "rss_before_mib": rss_before}))
"""


def markdown(r: dict) -> str:
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "unknown"
    lines = [
        "# Scale: the vector index at 1,000,000 chunks",
        "",
        f"Measured by `benchmarks/scale.py` on {time.strftime('%Y-%m-%d %H:%M')} (load average at the end: {load}; 2 shared cores).",
        f"{r['n']:,} synthetic {r['dimension']}-d unit vectors scattered (noise norm {r['noise']}) around {r['centres']:,} centres "
        f"({'the real MiniLM chunk vectors of ' + r['centres_source'] if r['centres_source'] != 'random' else 'random directions'}); "
        f"{r['queries']} queries drawn the same way, not in the collection. Built by ragcli's own FaissVectorStore with the default "
        "index.* settings, saved with write_index, then opened and queried one at a time in a fresh process.",
        "",
        f"- Layout chosen: `{r['layout']}` (above index.ann_threshold). Build (k-means training + adding): {r['build_s']:.1f} s; "
        f"write_index: {r['save_s']:.1f} s; file: {r['file_mib']:.0f} MiB.",
        f"- Memory of the query process (peak resident set, `VmHWM`, Python and numpy included): {r['query_process_peak_rss_mib']:.0f} MiB "
        f"(target < 1024 MiB); memory-mapped loading: {'on' if r['mmap'] else 'off'}. The building process peaked at "
        f"{r['build_process_peak_rss_mib']:.0f} MiB, most of it the float32 input vectors themselves.",
        f"- Exact search for the ground truth (numpy, all vectors in memory): {r['exact_numpy_ms_per_query']:.0f} ms per query.",
        "",
        "| nprobe | open s | query p50 ms | query p95 ms | recall@10 vs exact |",
        "|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(f"| {row['nprobe']} | {row['load_s']:.3f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['recall@10']:.3f} |")
    lines += ["", "Targets: p50 < 20 ms, recall@10 >= 0.95, < 1 GiB."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--centres", type=int, default=0, help="random cluster centres; 0: one per 100 vectors (ignored with --centers-from)")
    parser.add_argument("--centers-from", type=Path, help="an index directory whose chunk vectors become the centres")
    parser.add_argument("--noise", type=float, default=0.6, help="norm of the noise added to a centre before normalising")
    parser.add_argument("--nprobe", default="16,32,48,96", help="comma-separated nprobe values to measure")
    parser.add_argument("--ann-threshold", type=int, default=IndexSettings().ann_threshold)
    parser.add_argument("--no-mmap", action="store_true")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--md-out", type=Path, help="write the results as Markdown (benchmarks/SCALE.md)")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="ragscale-"))
    started = time.perf_counter()
    centre_vectors = centres(args.dimension, args.centres or max(1, args.n // 100), args.centers_from, rng)
    vectors = sample(centre_vectors, args.n, args.noise, rng)
    queries = sample(centre_vectors, args.queries, args.noise, rng)
    generate_s = time.perf_counter() - started
    print(f"generated {args.n} vectors around {len(centre_vectors)} centres in {generate_s:.1f} s", flush=True)

    started = time.perf_counter()
    truth = exact_top(vectors, queries, 10)
    exact_ms = (time.perf_counter() - started) * 1000 / len(queries)
    np.save(work / "queries.npy", queries)
    np.save(work / "truth.npy", truth)

    store = FaissVectorStore(args.dimension, IndexSettings(ann_threshold=args.ann_threshold))
    started = time.perf_counter()
    store.build(np.arange(args.n, dtype=np.int64), vectors)
    build_s = time.perf_counter() - started
    layout = store.layout
    index_file = work / "vectors.faiss"
    started = time.perf_counter()
    store.save(index_file)
    save_s = time.perf_counter() - started
    build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del store, vectors
    print(f"built {layout} in {build_s:.1f} s, saved in {save_s:.1f} s ({index_file.stat().st_size / 2**20:.0f} MiB)", flush=True)

    child_args = {"queries": str(work / "queries.npy"), "truth": str(work / "truth.npy"), "index": str(index_file),
                  "nprobes": [int(x) for x in args.nprobe.split(",")], "mmap": not args.no_mmap}
    output = subprocess.run([sys.executable, "-c", QUERY_CHILD, str(ROOT), json.dumps(child_args)], capture_output=True, text=True)
    if output.returncode != 0:
        raise SystemExit(output.stderr[-3000:])
    measured = json.loads(output.stdout.strip().splitlines()[-1])
    result = {
        "n": args.n, "dimension": args.dimension, "queries": args.queries, "centres": len(centre_vectors),
        "centres_source": str(args.centers_from) if args.centers_from else "random", "noise": args.noise,
        "layout": layout, "build_s": build_s, "save_s": save_s, "file_mib": index_file.stat().st_size / 2**20,
        "build_process_peak_rss_mib": build_rss, "exact_numpy_ms_per_query": exact_ms,
        "query_process_peak_rss_mib": measured["rss_mib"], "query_process_rss_before_load_mib": measured["rss_before_mib"],
        "mmap": not args.no_mmap, "rows": measured["rows"],
    }
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if args.md_out:
        args.md_out.write_text(markdown(result))
    index_file.unlink()


if __name__ == "__main__":
    main()
