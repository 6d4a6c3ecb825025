"""Embedding throughput of each backend on the same chunk texts, interleaved so machine load hits all alike.

Takes the chunk texts of an existing index (as ragcli embeds them: heading context + text),
then runs torch, ONNX fp32 and ONNX int8 in turn, several rounds, and reports the median
passages/s of each and the ratios. The models are loaded (and exported) before timing.

    .venv/bin/python benchmarks/embed_speed.py --index ~/.local/share/ragcli/index [--texts 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.config import load_settings  # noqa: E402
from ragcli.embedding import load_embedder  # noqa: E402

BACKENDS = {
    "torch": {"embedding.backend": "torch"},
    "onnx-fp32": {"embedding.backend": "onnx", "embedding.precision": "fp32"},
    "onnx-int8": {"embedding.backend": "onnx", "embedding.precision": "int8"},
}


def chunk_texts(index: Path, count: int) -> list[str]:
    with sqlite3.connect(f"file:{index / 'catalog.sqlite3'}?mode=ro", uri=True) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
        context = "context" if "context" in columns else "''"
        rows = db.execute(f"SELECT {context}, text FROM chunks ORDER BY id LIMIT ?", (count,)).fetchall()
    return [(f"{c}\n{t}" if c else t) for c, t in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    texts = chunk_texts(args.index, args.texts)
    embedders = {}
    for name in args.backends.split(","):
        embedders[name] = load_embedder(load_settings(flags=BACKENDS[name]))
        embedders[name].embed(texts[:8])
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(args.rounds):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(json.dumps({"texts": len(texts), "rounds": args.rounds, "load_average": load, "passages_per_s": medians,
                      "runs": rates}, indent=2))
    base = medians.get("torch")
    if base:
        for name, value in medians.items():
            print(f"{name}: {value:.1f} passages/s, {value / base:.2f}x torch")


if __name__ == "__main__":
    main()
