"""`rag ask` with the model in process against `rag ask --endpoint` through llama-cpp-python's
own OpenAI-compatible server holding the same bundled GGUF, side by side in one run.

Each question is asked both ways, alternating, as a new `rag ask --json --no-server` process
(what a user types). Reported per way: the median wall time, and whether the answers agree
(same abstention, same cited pages). The server is started once, with the same threads and
context window as the in-process model, and its start-up time is reported apart.

    .venv/bin/python benchmarks/endpoint_latency.py --index /path/to/index --model qwen2.5-coder-0.5b \\
        --question "..." --question "..." --repeat 2 --out result.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(env: dict, question: str, *extra: str) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ragcli", "ask", question, "--json", "--no-server", *extra],
                            env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    if result.returncode not in (0, 6):  # 6: abstained
        raise SystemExit(f"rag ask failed ({result.returncode}): {result.stderr}")
    return elapsed, json.loads(result.stdout)


def cited(answer: dict) -> list:
    return sorted((s["path"].rsplit("/", 1)[-1], s["page"]) for s in answer["sources"] if s.get("cited"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--question", action="append", required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()

    from ragcli.config import load_settings
    from ragcli.generation import BUNDLED, FAKES
    from ragcli.generation.llama import default_threads
    from ragcli.models.folders import resolve_model

    settings = load_settings(flags={"index.dir": args.index, "generation.model": args.model})
    path = resolve_model(args.model, BUNDLED, settings.cache_path, kind="file", setting="generation.model", flag="--model", also=FAKES)
    port = free_port()
    threads = str(default_threads())
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", str(settings.generation.n_ctx), "--n_threads", threads, "--n_threads_batch", threads],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() - started > 300:
                raise SystemExit("llama-cpp-python's server did not start")
            time.sleep(0.25)
    server_start = time.monotonic() - started
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_INDEX": args.index, "RAG_GENERATION_MODEL": args.model}
    rows = []
    try:
        for _ in range(args.repeat):
            for question in args.question:
                local_s, local = ask(env, question)
                remote_s, remote = ask(env, question, "--endpoint", url)
                rows.append({
                    "question": question, "in_process_s": round(local_s, 2), "endpoint_s": round(remote_s, 2),
                    "same_abstention": local["abstained"] == remote["abstained"], "same_cited_pages": cited(local) == cited(remote),
                    "in_process_answer": local["answer"], "endpoint_answer": remote["answer"],
                })
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = {
        "model": args.model, "server_start_s": round(server_start, 2), "asks": len(rows),
        "in_process_median_s": round(statistics.median(r["in_process_s"] for r in rows), 2),
        "endpoint_median_s": round(statistics.median(r["endpoint_s"] for r in rows), 2),
        "same_abstention": sum(r["same_abstention"] for r in rows), "same_cited_pages": sum(r["same_cited_pages"] for r in rows),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump({"summary": summary, "rows": rows}, out, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
