"""How `rag chat` rewrites follow-up questions, on the pairs in benchmarks/data/follow-ups.jsonl.

Each pair is a first question with a short answer, then a follow-up that leans on it ("and a
local one?" after "How do I delete a branch on the remote repository?"). The follow-up is
rewritten the way `rag chat` does it (`chat.rewrite = llm`, with its fallback, and `simple`)
and scored two ways:

- kept: the rewrite names both the subject carried from the first question and what the
  follow-up asks (each `expect` group is a list of alternatives, matched case-insensitively as
  word starts);
- found: for pairs with a `gold_path`, that document is among the top 5 passages retrieved for
  the rewrite (and, for comparison, for the follow-up as typed).

    .venv/bin/python benchmarks/follow_ups.py --index IDX [--pairs benchmarks/data/follow-ups.jsonl] [--out F]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.answer.chat import Conversation, Turn  # noqa: E402
from ragcli.config import load_settings  # noqa: E402
from ragcli.records import Answer  # noqa: E402

PAIRS = ROOT / "benchmarks" / "data" / "follow-ups.jsonl"


def keeps(text: str, groups: list[list[str]]) -> bool:
    lowered = text.lower()
    return all(any(re.search(r"(?<![a-z0-9])" + re.escape(alt.lower()), lowered) for alt in group) for group in groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from ragcli.generation import load_generator
    from ragcli.retrieval.searcher import Searcher

    pairs = [json.loads(line) for line in args.pairs.read_text().splitlines() if line.strip()]
    base = load_settings(flags={"index.dir": str(args.index)})
    generator = load_generator(base)
    searcher = Searcher.open(base)
    rows = []
    for pair in pairs:
        row = {"id": pair["id"], "follow_up": pair["follow_up"]}
        for mode in ("llm", "simple"):
            settings = load_settings(flags={"index.dir": str(args.index), "chat.rewrite": mode})
            conversation = Conversation(types.SimpleNamespace(generator=generator), settings)
            previous = Answer(question=pair["first"], text=pair["first_answer"], abstained=False, sources=[])
            conversation.turns.append(Turn(pair["first"], pair["first"], "none", previous))
            rewrite, how = conversation.standalone(pair["follow_up"])
            row[mode] = {"rewrite": rewrite, "how": how, "kept": keeps(rewrite, pair["expect"])}
            if pair.get("gold_path"):
                paths = [Path(h.path).name for h in searcher.search(rewrite, 5).hits]
                row[mode]["found"] = pair["gold_path"] in paths
        if pair.get("gold_path"):
            row["as_typed_found"] = pair["gold_path"] in [Path(h.path).name for h in searcher.search(pair["follow_up"], 5).hits]
        rows.append(row)
        print(f"{pair['id']}: llm({row['llm']['how']}) {'kept' if row['llm']['kept'] else 'LOST'} {row['llm']['rewrite']!r}"
              f" | simple {'kept' if row['simple']['kept'] else 'LOST'} {row['simple']['rewrite']!r}", flush=True)
    searcher.close()
    with_gold = [r for r in rows if "as_typed_found" in r]
    summary = {
        "pairs": len(rows),
        "llm_kept": sum(r["llm"]["kept"] for r in rows),
        "llm_fell_back": sum(r["llm"]["how"] == "simple" for r in rows),
        "simple_kept": sum(r["simple"]["kept"] for r in rows),
        "with_gold": len(with_gold),
        "llm_found": sum(r["llm"]["found"] for r in with_gold),
        "simple_found": sum(r["simple"]["found"] for r in with_gold),
        "as_typed_found": sum(r["as_typed_found"] for r in with_gold),
        "model": generator.id,
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
