"""Answer quality and speed per generator on the dev set, with drafts saved for offline replay.

Generating is the slow part (about 15 s a question for the default model on 2 cores), so a run
saves every question's draft, passages and timings; verifier settings are then compared by
replaying the saved drafts, without the model:

    # generate (slow): one JSONL line per question
    .venv/bin/python benchmarks/answer_quality.py run --index IDX --out drafts.jsonl \\
        [--ids git-001,gp-003] [--limit 20] [--set generation.model=qwen2.5-coder-1.5b ...]
    # score the saved run, optionally re-verified under other settings (fast, no generator)
    .venv/bin/python benchmarks/answer_quality.py replay drafts.jsonl [--set verification.method=embedding ...]

    # check the shown sentences against a reader's labels (and an LLM judge's verdicts)
    .venv/bin/python benchmarks/answer_quality.py audit drafts.jsonl --labels labels.jsonl [--judge qwen2.5-coder-1.5b]

Figures: answer accuracy (the gold answer appears in a non-abstained answer, as `rag eval
--answers` scores it) on answerable questions, abstention recall on unanswerable ones, wrong
abstentions on answerable ones, the share of draft sentences the verifier supports, and the
median time to first token and generation tokens/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.config import load_settings  # noqa: E402
from ragcli.evaluation import answer_is_correct  # noqa: E402

QA = ROOT.parent / "shared" / "eval" / "devset" / "qa.jsonl"


def _overrides(pairs: list[str]) -> dict:
    flags = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        flags[key] = value
    return flags


def _questions(qa: Path, ids: str, limit: int) -> list[dict]:
    items = [json.loads(line) for line in qa.read_text().splitlines() if line.strip()]
    if ids:
        wanted = set(ids.split(","))
        items = [q for q in items if q["id"] in wanted]
    return items[:limit] if limit else items


def run(args) -> None:
    from ragcli.answer.answerer import Answerer

    settings = load_settings(args.config, {"index.dir": str(args.index), **_overrides(args.set)})
    questions = _questions(args.qa, args.ids, args.limit)
    load_started = time.monotonic()
    with Answerer.open(settings) as answerer, open(args.out, "w", encoding="utf-8") as out:
        load_seconds = time.monotonic() - load_started
        for item in questions:
            answer = answerer.ask(item["question"])
            generating = answer.seconds - (answer.seconds_to_first_token or answer.seconds)
            line = {
                "id": item["id"], "question": item["question"], "gold_answer": item.get("answer", ""),
                "answerable": item.get("kind") != "unanswerable" and bool(item.get("gold")),
                "hits": [{"path": s.hit.path, "page": s.hit.page} for s in answer.sources],
                "passages": [s.hit.text for s in answer.sources],
                "answer": answer.text, "abstained": answer.abstained, "draft": answer.draft,
                "verification": answer.verification, "seconds_to_first_token": answer.seconds_to_first_token,
                "seconds": answer.seconds, "completion_tokens": answer.completion_tokens,
                "tokens_per_second": (answer.completion_tokens - 1) / generating if generating > 0 and answer.completion_tokens > 1 else None,
                "model": answer.model, "load_seconds": load_seconds,
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
            print(f"{item['id']}: {'ABSTAIN' if answer.abstained else 'ok'} ttft={answer.seconds_to_first_token} {answer.text[:100]!r}", flush=True)


def replay_line(line: dict, settings, verifier) -> dict:
    """Re-verify a saved draft under ``settings``: what `ask` would have answered."""
    from ragcli.answer.prompt import REFUSAL
    from ragcli.answer.verify import verify_draft

    if "skipped" in (line.get("verification") or {}):
        return line
    checked = verify_draft(line["draft"], line["question"], line["passages"], verifier, mark=settings.verification.unsupported == "mark")
    return {
        **line, "answer": REFUSAL if checked.abstained else checked.text, "abstained": checked.abstained,
        "verification": checked.to_json(),
    }


def score(lines: list[dict]) -> dict:
    answerable = [l for l in lines if l["answerable"]]
    unanswerable = [l for l in lines if not l["answerable"]]
    correct = [l for l in answerable if not l["abstained"] and answer_is_correct(l["gold_answer"], l["answer"])]
    in_draft = [l for l in answerable if answer_is_correct(l["gold_answer"], l.get("draft") or "")]
    sentences = sum((l.get("verification") or {}).get("sentences", 0) for l in lines)
    supported = sum((l.get("verification") or {}).get("supported", 0) for l in lines)
    ttft = [l["seconds_to_first_token"] for l in lines if l.get("seconds_to_first_token")]
    speed = [l["tokens_per_second"] for l in lines if l.get("tokens_per_second")]
    return {
        "answerable": len(answerable),
        "accuracy": round(len(correct) / len(answerable), 3) if answerable else None,
        "gold_in_draft": round(len(in_draft) / len(answerable), 3) if answerable else None,
        "unanswerable": len(unanswerable),
        "abstention_recall": round(sum(l["abstained"] for l in unanswerable) / len(unanswerable), 3) if unanswerable else None,
        "wrong_abstentions": sum(l["abstained"] for l in answerable),
        "draft_sentences_supported": round(supported / sentences, 3) if sentences else None,
        "ttft_median_s": round(statistics.median(ttft), 2) if ttft else None,
        "tokens_per_s_median": round(statistics.median(speed), 1) if speed else None,
        "correct_ids": sorted(l["id"] for l in correct),
    }


def replay(args) -> None:
    from ragcli.answer.verify import load_verifier

    lines = [json.loads(line) for line in Path(args.drafts).read_text().splitlines() if line.strip()]
    if args.set:
        settings = load_settings(args.config, {"embedding.model": "all-minilm-l6-v2", **_overrides(args.set)})
        verifier = load_verifier(settings)
        lines = [replay_line(line, settings, verifier) for line in lines]
    result = score(lines)
    if not args.ids_out:
        result.pop("correct_ids")
    print(json.dumps(result))


def table(args) -> None:
    """Markdown rows, one per saved run (label=drafts.jsonl), for benchmarks/RESULTS.md."""
    print("| run | answerable | accuracy | gold in draft | unanswerable | abstention recall | wrong abstentions | draft sentences supported | TTFT median s | tokens/s median |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.runs:
        label, _, path = spec.partition("=")
        r = score([json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()])
        wrong = f"{r['wrong_abstentions']}/{r['answerable']}"
        print(
            f"| {label} | {r['answerable']} | {r['accuracy']} | {r['gold_in_draft']} | {r['unanswerable']} | {r['abstention_recall']} "
            f"| {wrong} | {r['draft_sentences_supported']} | {r['ttft_median_s']} | {r['tokens_per_s_median']} |"
        )


def shown_sentences(lines: list[dict]) -> list[dict]:
    """Every sentence an answer showed, with the passage it was cited to."""
    shown = []
    for line in lines:
        if line["abstained"]:
            continue
        for check in (line.get("verification") or {}).get("per_sentence", []):
            if check["supported"] and check["source"]:
                shown.append({"id": line["id"], "question": line["question"], "text": check["text"],
                              "source": check["source"], "passage": line["passages"][check["source"] - 1]})
    return shown


def audit(args) -> None:
    """Is each shown sentence really backed by the passage it cites? Scored against a reader's
    labels (JSONL: id, text, supported, why) and, with --judge, against an LLM judge's yes/no.
    Sentences without a label are printed with their passage, to be labelled."""
    lines = [json.loads(line) for line in Path(args.drafts).read_text().splitlines() if line.strip()]
    shown = shown_sentences(lines)
    labels = {}
    if args.labels and args.labels.exists():
        for row in (json.loads(line) for line in args.labels.read_text().splitlines() if line.strip()):
            labels[(row["id"], row["text"])] = row["supported"]
    judge = None
    if args.judge:
        from ragcli.answer.verify import load_verifier

        overrides = {"embedding.model": "all-minilm-l6-v2", "verification.method": "llm", "verification.judge_model": args.judge}
        judge = load_verifier(load_settings(args.config, overrides))
    rows = []
    for item in shown:
        row = {"id": item["id"], "text": item["text"], "source": item["source"], "reader": labels.get((item["id"], item["text"]))}
        if judge is not None:
            row["judge"] = judge.supports(item["text"], item["passage"])
        if row["reader"] is None:
            row["passage"] = item["passage"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    labelled = [r for r in rows if r["reader"] is not None]
    summary = {"shown": len(rows), "labelled": len(labelled),
               "reader_supported": sum(r["reader"] for r in labelled)}
    if labelled:
        summary["reader_supported_share"] = round(summary["reader_supported"] / len(labelled), 3)
    if judge is not None:
        summary["judge_supported"] = sum(r["judge"] for r in rows)
        summary["judge_rejected_reader_unsupported"] = sum(1 for r in labelled if not r["reader"] and not r["judge"])
        summary["judge_rejected_reader_supported"] = sum(1 for r in labelled if r["reader"] and not r["judge"])
    print(json.dumps(summary))


def gate(args) -> None:
    """The evidence gate alone (no generator): for each question, the best dense similarity and
    whether the unknown-name rule fires, then how each min_similarity threshold would split them."""
    from ragcli.answer.gate import evidence_gap
    from ragcli.config import AnswerSettings
    from ragcli.retrieval.searcher import Searcher

    settings = load_settings(args.config, {"index.dir": str(args.index), **_overrides(args.set)})
    names_only = AnswerSettings(min_similarity=0.0, unknown_names=True)
    rows = []
    with Searcher.open(settings) as searcher:
        for item in _questions(args.qa, "", 0):
            # Searched as the Answerer searches: separate chunks.
            hits = searcher.search(item["question"], merge_adjacent=False).hits
            best = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
            names = evidence_gap(item["question"], hits, names_only, searcher.unknown_terms)
            answerable = item.get("kind") != "unanswerable" and bool(item.get("gold"))
            rows.append({"id": item["id"], "answerable": answerable, "best_similarity": round(best, 3), "unknown_names": names})
    for row in rows:
        print(json.dumps(row))
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    for threshold in [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]:
        caught = sum(1 for r in unanswerable if r["unknown_names"] or r["best_similarity"] < threshold)
        lost = sum(1 for r in answerable if r["unknown_names"] or r["best_similarity"] < threshold)
        print(f"min_similarity {threshold:.2f}: unanswerable gated {caught}/{len(unanswerable)}, answerable gated {lost}/{len(answerable)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    generate = sub.add_parser("run")
    generate.add_argument("--index", type=Path, required=True)
    generate.add_argument("--out", type=Path, required=True)
    generate.add_argument("--qa", type=Path, default=QA)
    generate.add_argument("--ids", default="")
    generate.add_argument("--limit", type=int, default=0)
    generate.add_argument("--config", type=Path)
    generate.add_argument("--set", action="append", default=[], help="section.key=value, as in configs/default.toml")
    again = sub.add_parser("replay")
    again.add_argument("drafts", type=Path)
    again.add_argument("--config", type=Path)
    again.add_argument("--set", action="append", default=[])
    again.add_argument("--ids-out", action="store_true")
    gated = sub.add_parser("gate")
    gated.add_argument("--index", type=Path, required=True)
    gated.add_argument("--qa", type=Path, default=QA)
    gated.add_argument("--config", type=Path)
    gated.add_argument("--set", action="append", default=[])
    audited = sub.add_parser("audit")
    audited.add_argument("drafts", type=Path)
    audited.add_argument("--labels", type=Path, help="a reader's verdicts, JSONL: id, text, supported, why")
    audited.add_argument("--judge", default="", help="a generator (bundled name or GGUF path) to ask yes/no")
    audited.add_argument("--config", type=Path)
    tabulate = sub.add_parser("table")
    tabulate.add_argument("runs", nargs="+", help="LABEL=drafts.jsonl")
    args = parser.parse_args()
    {"run": run, "replay": replay, "gate": gate, "table": table, "audit": audit}[args.command](args)


if __name__ == "__main__":
    main()
