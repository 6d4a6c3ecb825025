"""How far to trust `rag eval --judge`: the judge against a reader's sentence labels and against
the gold-string score, on answers already generated (no answering model is run).

- Sentences: each line of a reader's audit (benchmarks/data/audit-*.jsonl: a shown sentence and
  whether its passage backs it) is judged against the passage it cites, found in the matching
  answers file (benchmarks/data/answers-*.jsonl: the passages in prompt order and each sentence's
  source number). Reported: precision and recall of "unsupported" (the reader's label as truth),
  and the same for the lexical verifier, which passed every one of these sentences.
- Answers: every answered, answerable question's answer is graded against its gold answer and
  compared with the gold-string rule of `rag eval`.

    .venv/bin/python benchmarks/judge_agreement.py --answers benchmarks/data/answers-qwen2.5-coder-1.5b-shipped.jsonl \\
        --audit benchmarks/data/audit-qwen2.5-coder-1.5b-shipped.jsonl [--judge-model NAME|FILE] --out result.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path


def words(text: str) -> set[str]:
    return set(re.findall(r"\w{3,}", text.lower()))


def cited_passage(record: dict, sentence: str) -> str:
    """The passage the sentence cites in its answer; else the one sharing most words with it."""
    passages = record["passages"]
    for check in (record.get("verification") or {}).get("per_sentence", []):
        if check["text"].strip() == sentence.strip() and check.get("source") and check["source"] <= len(passages):
            return passages[check["source"] - 1]
    return max(passages, key=lambda p: len(words(p) & words(sentence)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", required=True)
    parser.add_argument("--audit", required=True)
    parser.add_argument("--judge-model", default="")
    parser.add_argument("--out")
    args = parser.parse_args()

    from ragcli.config import load_settings
    from ragcli.evaluation import answer_is_correct
    from ragcli.evaluation_judge import load_judge

    judge = load_judge(load_settings(), args.judge_model)
    records = {r["id"]: r for r in map(json.loads, Path(args.answers).read_text().splitlines())}
    audit = [json.loads(line) for line in Path(args.audit).read_text().splitlines() if line.strip()]

    sentences, timings = [], []
    for item in audit:
        record = records.get(item["id"])
        if record is None or not record.get("passages"):
            continue
        started = time.monotonic()
        p = judge.supports(item["text"], cited_passage(record, item["text"]))
        timings.append(time.monotonic() - started)
        sentences.append({"id": item["id"], "reader_supported": item["supported"], "p_supported": round(p, 4)})
        print(json.dumps(sentences[-1]), flush=True)

    def unsupported_scores(flagged: list[bool]) -> dict:
        truth = [not s["reader_supported"] for s in sentences]
        hits = sum(1 for f, t in zip(flagged, truth) if f and t)
        return {"flagged": sum(flagged), "precision": round(hits / sum(flagged), 3) if sum(flagged) else None,
                "recall": round(hits / sum(truth), 3) if sum(truth) else None}

    grades = []
    for record in records.values():
        if not record.get("answerable") or record.get("abstained"):
            continue
        started = time.monotonic()
        grade = judge.grade(record["question"], record["gold_answer"], record["answer"])
        timings.append(time.monotonic() - started)
        grades.append({"id": record["id"], "label": grade.label, "score": round(grade.score, 4),
                       "gold_string": answer_is_correct(record["gold_answer"], record["answer"])})
        print(json.dumps(grades[-1]), flush=True)

    agree = sum(1 for g in grades if (g["label"] == "correct") == g["gold_string"])
    summary = {
        "judge": judge.id,
        "sentences": len(sentences), "reader_unsupported": sum(1 for s in sentences if not s["reader_supported"]),
        "judge_unsupported_at_0.5": unsupported_scores([s["p_supported"] < 0.5 for s in sentences]),
        "lexical_verifier_unsupported": unsupported_scores([False for _ in sentences]),
        "answers_graded": len(grades),
        "grades": {label: sum(1 for g in grades if g["label"] == label) for label in ("correct", "partly", "wrong")},
        "agreement_with_gold_string": round(agree / len(grades), 3) if grades else None,
        "correct_but_string_missed": [g["id"] for g in grades if g["label"] == "correct" and not g["gold_string"]],
        "string_matched_but_not_correct": [g["id"] for g in grades if g["label"] != "correct" and g["gold_string"]],
        "seconds_per_judgement_median": round(statistics.median(timings), 2) if timings else None,
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "sentences": sentences, "grades": grades}, indent=2))


if __name__ == "__main__":
    main()
