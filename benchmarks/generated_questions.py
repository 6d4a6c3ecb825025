"""Do questions made by `rag eval --generate` rank retrieval settings as the dev set does?

Scores several retrieval configurations of one index on two QA files, the hand-written dev set
and a generated set (`rag eval --generate N --out GEN`), with `ragcli.evaluation.evaluate`, and
reports how far the two orderings agree: Spearman's rho and Kendall's tau over MRR@10 and over
recall@5, and the share of configuration pairs both sets order the same way. The configurations
change query-time settings only, so one index serves them all. Answerable questions only count
(retrieval has no gold for an unanswerable one).

    rag eval --index INDEX --generate 80 --out gen.jsonl
    python benchmarks/generated_questions.py --index INDEX --generated gen.jsonl [--qa DEV_QA] [--out results.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS: dict[str, dict[str, str]] = {
    "hybrid (default)": {},
    "dense only": {"retrieval.lexical": "false"},
    "lexical only": {"retrieval.dense_weight": "0.0"},
    "hybrid, equal weights": {"retrieval.lexical_weight": "1.0", "retrieval.heading_weight": "1.0"},
    "hybrid, 5 candidates": {"retrieval.candidates": "5"},
    "hybrid, one passage per page, no fill": {"retrieval.max_per_page": "1", "retrieval.min_passage_chars": "0"},
}


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            out[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else 0.0


def kendall(a: list[float], b: list[float]) -> tuple[float, float]:
    """Kendall's tau-b, and the share of pairs ordered alike (a tie in either counts half)."""
    concordant = discordant = ties_a = ties_b = 0
    alike = 0.0
    pairs = list(itertools.combinations(range(len(a)), 2))
    for i, j in pairs:
        da, db = a[i] - a[j], b[i] - b[j]
        if da == 0 and db == 0:
            alike += 1
            continue
        if da == 0:
            ties_a += 1
            alike += 0.5
        elif db == 0:
            ties_b += 1
            alike += 0.5
        elif da * db > 0:
            concordant += 1
            alike += 1
        else:
            discordant += 1
    denominator = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return ((concordant - discordant) / denominator if denominator else 0.0), alike / len(pairs)


def main() -> None:
    from ragcli.config import load_settings
    from ragcli.evaluation import evaluate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--generated", type=Path, required=True, help="A QA file from rag eval --generate.")
    parser.add_argument("--qa", type=Path, default=ROOT.parent / "shared" / "eval" / "devset" / "qa.jsonl")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    rows: dict[str, dict] = {}
    for name, flags in CONFIGS.items():
        settings = load_settings(flags={"index.dir": str(args.index), "reranking.mode": "off", **flags}, environ={})
        row = {}
        for label, qa in (("dev", args.qa), ("generated", args.generated)):
            report = evaluate(settings, qa, k=10)
            row[label] = {"n": sum(1 for r in report.results if r.question.answerable), "recall@5": report.recall[5], "mrr@10": round(report.mrr10, 4)}
        rows[name] = row
        print(f"{name:40s} dev MRR@10 {row['dev']['mrr@10']:.3f} R@5 {row['dev']['recall@5']:.3f}"
              f" | generated MRR@10 {row['generated']['mrr@10']:.3f} R@5 {row['generated']['recall@5']:.3f}", flush=True)
    agreement = {}
    for metric in ("mrr@10", "recall@5"):
        dev = [rows[n]["dev"][metric] for n in CONFIGS]
        gen = [rows[n]["generated"][metric] for n in CONFIGS]
        tau, alike = kendall(dev, gen)
        agreement[metric] = {"spearman": round(spearman(dev, gen), 3), "kendall_tau_b": round(tau, 3), "pairs_ordered_alike": round(alike, 3)}
        print(f"{metric}: Spearman {agreement[metric]['spearman']:+.3f}, Kendall tau-b {agreement[metric]['kendall_tau_b']:+.3f},"
              f" pairs ordered alike {agreement[metric]['pairs_ordered_alike']:.3f} ({len(CONFIGS)} configurations)")
    best = {label: max(CONFIGS, key=lambda n: rows[n][label]["mrr@10"]) for label in ("dev", "generated")}
    print(f"best by MRR@10: dev {best['dev']!r}, generated {best['generated']!r}")
    if args.out:
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "configs": CONFIGS, "rows": rows,
                                        "agreement": agreement, "best": best}, indent=2) + "\n")


if __name__ == "__main__":
    main()
