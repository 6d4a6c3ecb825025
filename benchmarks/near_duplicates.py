"""Near-duplicate documents on git-doc: every page as .html and as its .txt source, indexed with
copies found (the default) and with every copy indexed (``ingest.near_duplicates = 0``), side by
side in one run, then scored with `rag eval` (retrieval only).

The corpus is the pages a QA file's questions need plus ``--extra`` other pages, each with its
.txt twin from the same folder (Debian's git-doc: /usr/share/doc/git-doc), copied into one folder.

    .venv/bin/python benchmarks/near_duplicates.py --qa /path/to/qa.jsonl --corpus git \\
        --source /usr/share/doc/git-doc --extra 40 --out result.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rag(env: dict, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "ragcli", *args, "--json"], env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode not in (0, 3):
        raise SystemExit(f"rag {args[0]} failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", required=True)
    parser.add_argument("--corpus", default="git", help="Only the questions of this corpus.")
    parser.add_argument("--source", default="/usr/share/doc/git-doc")
    parser.add_argument("--extra", type=int, default=40, help="Other pages (with their twins) besides the gold ones.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()

    source = Path(args.source)
    questions = [json.loads(line) for line in Path(args.qa).read_text().splitlines() if line.strip()]
    questions = [q for q in questions if q.get("corpus") == args.corpus]
    by_name = {p.name: p for p in sorted(source.rglob("*.html"))}
    gold = sorted({Path(g["path"]).name for q in questions for g in q.get("gold") or []} & set(by_name))
    others = sorted(name for name, p in by_name.items() if name not in gold and p.with_suffix(".txt").exists())
    pages = gold + random.Random(args.seed).sample(others, min(args.extra, len(others)))
    work = Path(tempfile.mkdtemp(prefix="near-duplicates-"))
    folder = work / "git-doc"
    folder.mkdir()
    twins = 0
    for name in pages:
        shutil.copy(by_name[name], folder / name)
        if by_name[name].with_suffix(".txt").exists():
            shutil.copy(by_name[name].with_suffix(".txt"), folder / Path(name).with_suffix(".txt").name)
            twins += 1
    qa = work / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in questions))
    print(f"{len(pages)} pages, {twins} with a .txt twin; {len(questions)} questions", flush=True)

    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    rows = {}
    for name, share in (("every copy indexed", "0"), ("copies found (default)", "0.8")):
        env = base | {"RAG_INDEX": str(work / f"index-{share}"), "RAG_INGEST_NEAR_DUPLICATES": share}
        started = time.monotonic()
        report = rag(env, "ingest", str(folder))
        wall = time.monotonic() - started
        scored = rag(env, "eval", str(qa), "-k", "10")
        rows[name] = {
            "ingest_s": round(wall, 1), "chunks": report["chunks"], "indexed": report["indexed"], "copies": len(report["duplicates"]),
            "recall@1": scored["recall@1"], "recall@5": scored["recall@5"], "mrr@10": scored["mrr@10"],
        }
        print(name, json.dumps(rows[name]), flush=True)
        if share != "0":
            left = [d for d in report["duplicates"] if not d["path"].endswith(".txt")]
            rows[name]["copies_not_txt"] = [(Path(d["path"]).name, Path(d["same_as"]).name) for d in left]
            found = {Path(d["path"]).name for d in report["duplicates"]}
            rows[name]["txt_twins_missed"] = sorted(Path(p).with_suffix(".txt").name for p in pages
                                                   if (folder / Path(p).with_suffix(".txt").name).exists() and Path(p).with_suffix(".txt").name not in found)
    print(json.dumps(rows, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({"pages": len(pages), "twins": twins, "questions": len(questions), "rows": rows}, indent=2))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
