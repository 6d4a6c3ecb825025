"""Keyword search in Chinese and Japanese, measured on Debian's own manuals (benchmarks/RESULTS.md,
"More formats, HTML through beautifulsoup4, CJK, watch").

The corpus is the HTML of `debian-reference-ja` and `debian-reference-zh-cn`
(/usr/share/debian-reference/*.{ja,zh-cn}.html, copied to CORPUS); the questions,
written for this benchmark, are benchmarks/data/cjk-questions.jsonl. A hit counts when it comes
from a gold file and its text holds the gold answer (a path, a command), so a chapter alone is
not enough: the passage must be the one that answers.

Rows, on one index built with the default embedder:
- keyword rankings alone (chunks, before shaping): the words index (unicode61, all there was
  before), character pairs (the shipped CJK index), character triples (an FTS5 trigram table,
  the alternative, built here in a copy of the index);
- whole searches (passages, k = 10): dense only, hybrid without a CJK path (as before), hybrid
  with pairs (shipped), hybrid with triples.

    python benchmarks/cjk_recall.py --index /work/w16-dev/cjk-index --corpus /work/w16-dev/cjk-corpus [--out cjk.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli import vocabulary  # noqa: E402
from ragcli.config import load_settings  # noqa: E402
from ragcli.retrieval import searcher as searcher_module  # noqa: E402

QUESTIONS = ROOT / "benchmarks" / "data" / "cjk-questions.jsonl"
SOURCE = Path("/usr/share/debian-reference")


def rank_of(hits: list[tuple[str, str]], gold: list[dict], limit: int = 10) -> int | None:
    for rank, (path, text) in enumerate(hits[:limit], start=1):
        if any(path.endswith("/" + g["path"]) and g["answer"] in text for g in gold):
            return rank
    return None


def scores(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {
        "recall@1": sum(1 for r in ranks if r and r <= 1) / n, "recall@5": sum(1 for r in ranks if r and r <= 5) / n,
        "recall@10": sum(1 for r in ranks if r) / n, "mrr@10": sum(1 / r for r in ranks if r) / n, "n": n,
    }


def by_language(questions, ranks) -> dict:
    result = {"all": scores(ranks)}
    for lang in sorted({q["lang"] for q in questions}):
        result[lang] = scores([r for q, r in zip(questions, ranks) if q["lang"] == lang])
    return result


def trigram_query(text: str) -> str:
    """The trigram alternative's query: every three-character piece of each CJK run."""
    pieces = [run[i : i + 3] for run in vocabulary.CJK_RUN.findall(text) for i in range(max(1, len(run) - 2))]
    return " OR ".join(f'"{piece}"' for piece in dict.fromkeys(pieces))


def trigram_copy(index: Path, work: Path) -> Path:
    """A copy of the index whose CJK table holds raw text under FTS5's trigram tokenizer."""
    copy = work / "trigram-index"
    shutil.copytree(index, copy)
    db = sqlite3.connect(copy / "catalog.sqlite3")
    db.execute("DROP TABLE chunk_grams")
    db.execute("CREATE VIRTUAL TABLE chunk_grams USING fts5(text, context, tokenize = 'trigram')")
    rows = [(cid, text, context) for cid, text, context in db.execute("SELECT id, text, context FROM chunks")
            if vocabulary.CJK_RUN.search(text + context)]
    db.executemany("INSERT INTO chunk_grams(rowid, text, context) VALUES (?, ?, ?)", rows)
    db.commit()
    db.close()
    return copy


def keyword_ranks(settings, questions, table: str, make_query) -> list[int | None]:
    from ragcli.store.index import Index

    index = Index.open_for_reading(settings)
    try:
        catalog = index.catalog
        ranks = []
        for question in questions:
            found = catalog.fulltext.search(make_query(question["question"]), 10, None, settings.retrieval.heading_weight, table=table)
            stored = catalog.chunks.get([cid for cid, _ in found])
            ranks.append(rank_of([(stored[cid].path, stored[cid].text) for cid, _ in found if cid in stored], question["gold"]))
        return ranks
    finally:
        index.close()


def search_ranks(settings, questions, embedder, cjk=None) -> list[int | None]:
    saved = searcher_module.cjk_query
    if cjk is not None:
        searcher_module.cjk_query = cjk
    try:
        with searcher_module.Searcher.open(settings, embedder=embedder, reranker=None) as searcher:
            return [rank_of([(h.path, h.text) for h in searcher.search(q["question"], 10).hits], q["gold"]) for q in questions]
    finally:
        searcher_module.cjk_query = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="Index folder (built here from CORPUS if missing).")
    parser.add_argument("--corpus", type=Path, required=True, help="Folder for the copied HTML manuals.")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    settings = load_settings(flags={"index.dir": str(args.index), "reranking.mode": "off"})
    from ragcli.embedding import load_embedder

    embedder = load_embedder(settings)
    if not (args.index / "catalog.sqlite3").exists():
        from ragcli.ingest import ingest

        args.corpus.mkdir(parents=True, exist_ok=True)
        for page in sorted(SOURCE.glob("*.ja.html")) + sorted(SOURCE.glob("*.zh-cn.html")):
            shutil.copy(page, args.corpus / page.name)
        report = ingest(settings, [args.corpus], embedder=embedder)
        print(f"indexed {report.indexed} files, {report.chunks} chunks in {report.seconds:.0f} s", flush=True)
    from ragcli.retrieval.query import cjk_query, lexical_query
    from ragcli.store.catalog.fulltext import GRAMS, WORDS

    results: dict = {"questions": len(questions), "rows": {}}
    with tempfile.TemporaryDirectory() as work:
        trigram_settings = dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(trigram_copy(args.index, Path(work)))))
        rows = {
            "keyword: words only (unicode61, before)": lambda: keyword_ranks(settings, questions, WORDS, lexical_query),
            "keyword: character pairs (shipped)": lambda: keyword_ranks(settings, questions, GRAMS, cjk_query),
            "keyword: character triples (FTS5 trigram)": lambda: keyword_ranks(trigram_settings, questions, GRAMS, trigram_query),
            "search: dense only": lambda: search_ranks(
                dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, lexical=False)), questions, embedder),
            "search: hybrid, no CJK path (before)": lambda: search_ranks(settings, questions, embedder, cjk=lambda text: ""),
            "search: hybrid + character pairs (shipped)": lambda: search_ranks(settings, questions, embedder),
            "search: hybrid + character triples": lambda: search_ranks(trigram_settings, questions, embedder, cjk=trigram_query),
        }
        print("| ranking | recall@1 | recall@5 | recall@10 | MRR@10 | ja R@5 / MRR | zh-cn R@5 / MRR |\n|---|---|---|---|---|---|---|")
        for name, run in rows.items():
            found = by_language(questions, run())
            results["rows"][name] = found
            a, ja, zh = found["all"], found["ja"], found["zh-cn"]
            print(f"| {name} | {a['recall@1']:.3f} | {a['recall@5']:.3f} | {a['recall@10']:.3f} | {a['mrr@10']:.3f} | "
                  f"{ja['recall@5']:.3f} / {ja['mrr@10']:.3f} | {zh['recall@5']:.3f} / {zh['mrr@10']:.3f} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
