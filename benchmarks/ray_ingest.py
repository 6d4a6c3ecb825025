"""`rag ingest --ray` against a local ingest on the same cores, side by side in one run.

On the dev corpora (bench.py's file selection), with one embedding variant:
- local: `rag ingest` as it ships (parser subprocesses, embedding on every core);
- ray, one node process with every core (`ray start --head --num-cpus N`);
- ray, two node processes sharing those cores (head and a second `ray start`, N/2 CPUs each).
Each ingest is timed from a fresh index, ``--runs`` times (medians quoted); the per-file overhead
is (ray wall - local wall) / files. The indexes are compared (documents and chunks) and scored.

    .venv/bin/python benchmarks/ray_ingest.py [--html-files 60] [--runs 1] [--variant default]

Writes benchmarks/data/ray-ingest-<date>.json and prints a Markdown table for RESULTS.md. It ends
each cluster with `ray stop --force`, which stops every Ray cluster of this user on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SHARED_EVAL, VARIANTS, VENV_BIN, machine_load, measured_in_child, prepare_corpus, score  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RAY = VENV_BIN / "ray"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_cluster(cpus: list[int], temp: Path, env: dict) -> str:
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", f"--num-cpus={cpus[0]}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
                   env=env, check=True, capture_output=True)
    for count in cpus[1:]:
        subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", f"--num-cpus={count}", *common], env=env, check=True, capture_output=True)
    return f"127.0.0.1:{port}"


def stop_cluster(env: dict) -> None:
    subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True)


def contents(index: Path) -> tuple:
    with sqlite3.connect(index / "catalog.sqlite3") as db:
        documents = db.execute("SELECT path, sha256, title FROM documents ORDER BY path").fetchall()
        chunks = db.execute("SELECT d.path, c.ordinal, c.text FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY 1, 2").fetchall()
    return documents, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-doc", type=Path, default=Path("/usr/share/doc/git-doc"))
    parser.add_argument("--gnuplot-pdf", type=Path, default=Path("/usr/share/doc/gnuplot/gnuplot.pdf"))
    parser.add_argument("--qa", type=Path, default=SHARED_EVAL / "qa.jsonl")
    parser.add_argument("--html-files", type=int, default=60)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--variant", default="default", choices=sorted(VARIANTS))
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="rayb", dir="/tmp"))
    roots = prepare_corpus(work, args.git_doc, args.gnuplot_pdf, args.qa, args.html_files)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    base.update({"RAG_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0", **VARIANTS[args.variant]})
    rag = [str(VENV_BIN / "rag")]
    # The first use of the embedder exports it to ONNX: paid here, once, outside the timings.
    subprocess.run([sys.executable, "-c", "from ragcli.config import load_settings; from ragcli.embedding import load_embedder;"
                    " load_embedder(load_settings()).embed(['warm up'])"], env=base, check=True, capture_output=True)
    setups = {"local": None, f"ray, 1 node process ({cores} CPUs)": [cores],
              f"ray, 2 node processes ({cores // 2} CPU{'s' if cores > 3 else ''} each)": [max(1, cores // 2)] * 2}
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": cores, "variant": args.variant, "load_start": machine_load(), "setups": {}}
    reference = None
    for name, cpus in setups.items():
        walls, rss, report = [], 0.0, {}
        for run in range(args.runs):
            index = work / f"index-{len(results['setups'])}-{run}"
            env = {**base, "RAG_INDEX": str(index)}
            command = rag + ["ingest", *map(str, roots), "--json"]
            if cpus:
                address = start_cluster(cpus, work / "ray", base)
                command += ["--ray", address]
            try:
                wall, rss, stdout = measured_in_child(command, env)
            finally:
                if cpus:
                    stop_cluster(base)
            walls.append(wall)
            report = json.loads(stdout)
        out = work / f"eval-{len(results['setups'])}.jsonl"
        measured_in_child(rag + ["eval", str(args.qa), "--json", "--out", str(out)], env)
        same = None
        if reference is None:
            reference = contents(index)
        else:
            same = contents(index) == reference
        results["setups"][name] = {"walls": walls, "wall": statistics.median(walls), "driver_rss_mib": rss, "files": report["indexed"],
                                   "chunks": report["chunks"], "cluster": report.get("cluster"), "same_index_as_local": same,
                                   "scores": score(out, args.qa)}
        print(name, walls, flush=True)
    local = results["setups"]["local"]
    results["load_end"] = machine_load()
    out = ROOT / "benchmarks" / "data" / f"ray-ingest-{time.strftime('%Y-%m-%d')}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['date']}, {cores} cores, {local['files']} files, {local['chunks']} chunks, variant {args.variant}, "
          f"{args.runs} run(s) each; {results['load_start']} -> {results['load_end']}\n")
    print("| setup | ingest wall | vs local | overhead per file | chunks/s | R@5 | MRR@10 | same index as local |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["setups"].items():
        o = r["scores"].get("overall", r["scores"])
        overhead = (r["wall"] - local["wall"]) / max(1, r["files"])
        print(f"| {name} | {r['wall']:.1f} s | {local['wall'] / r['wall']:.2f}x | {'-' if r is local else f'{overhead * 1000:+.0f} ms'} | "
              f"{r['chunks'] / r['wall']:.1f} | {o['recall@5']:.3f} | {o['mrr@10']:.3f} | {'-' if r['same_index_as_local'] is None else r['same_index_as_local']} |")
    print(f"\nraw: {out.relative_to(ROOT)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
