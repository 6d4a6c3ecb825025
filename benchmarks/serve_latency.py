"""`rag serve` against the cold CLI, side by side in one run, with the default models.

- search: `rag search --json Q` (a new process each time) against POST /search on a warm server;
- ask: `rag ask --json Q` against POST /ask with "stream": true, timed to the first event (what
  the page shows at once), the first checked text, and the end;
- concurrency: 8 clients searching at once (throughput, p95 latency), 4 clients asking at once
  (each one's wait for the model, from the "queued" events and the first stage);
- the server's resident memory once warm and after the asks.

Questions alternate CLI / server, so machine load falls on both alike. Medians are printed and
written as JSON.

    .venv/bin/python benchmarks/serve_latency.py --index /path/to/index \\
        --question "How do I ..." --question "..." --query "..." --out result.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, body: dict, timeout: float = 600):
    return urllib.request.urlopen(
        urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"),
        timeout=timeout,
    )


def server_search(url: str, query: str) -> float:
    started = time.monotonic()
    with post(url + "/search", {"query": query}) as reply:
        json.loads(reply.read())
    return time.monotonic() - started


def server_ask(url: str, question: str) -> dict:
    started = time.monotonic()
    marks: dict = {}
    with post(url + "/ask", {"question": question, "stream": True}) as reply:
        for raw in reply:
            line = json.loads(raw)
            now = time.monotonic() - started
            marks.setdefault("first_event_s", now)
            if line["event"] == "queued":
                marks.setdefault("queued_at", line["position"])
            if line["event"] == "stage":
                marks.setdefault("started_s", now)
            if line["event"] == "text":
                marks.setdefault("first_text_s", now)
            if line["event"] == "answer":
                marks["end_s"] = now
                marks["abstained"] = line["answer"]["abstained"]
    return marks


def cli(args: list[str], env: dict) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "ragcli", *args, "--json"], env=env, capture_output=True, check=False, timeout=900)
    return time.monotonic() - started


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--question", action="append", required=True)
    parser.add_argument("--query", action="append", required=True)
    parser.add_argument("--searches", type=int, default=80, help="searches per concurrency run")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    env = {**os.environ, "RAG_INDEX_DIR": options.index}
    server = subprocess.Popen([sys.executable, "-m", "ragcli", "serve", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    url = None
    for line in server.stderr:
        match = re.search(r"at (http://\S+) \(MCP", line)
        if match:
            url = match.group(1)
            break
    assert url, "rag serve did not start"
    result: dict = {"server_start_s": round(time.monotonic() - started, 2), "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    result["rss_warm_mb"] = round(rss_mb(server.pid), 1)
    try:
        server_search(url, options.query[0])  # the first query pays for the vector file's load
        cold_search, warm_search = [], []
        for query in options.query:
            cold_search.append(cli(["search", query], env))
            warm_search.append(server_search(url, query))
        result["search"] = {"cli_s": median(cold_search), "server_s": median(warm_search), "runs": len(options.query)}
        cold_ask, warm_ask = [], []
        for question in options.question:
            cold_ask.append(cli(["ask", question], env))
            warm_ask.append(server_ask(url, question))
        result["ask"] = {
            "cli_end_s": median(cold_ask),
            "server_first_event_s": median([m.get("first_event_s") for m in warm_ask]),
            "server_first_text_s": median([m.get("first_text_s") for m in warm_ask]),
            "server_end_s": median([m.get("end_s") for m in warm_ask]),
            "runs": len(options.question),
        }
        queries = [options.query[i % len(options.query)] for i in range(options.searches)]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            latencies = sorted(pool.map(lambda q: server_search(url, q), queries))
        elapsed = time.monotonic() - started
        result["search_8_clients"] = {
            "per_s": round(len(queries) / elapsed, 1), "median_s": median(latencies),
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        }
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            asks = list(pool.map(lambda q: server_ask(url, q), [options.question[i % len(options.question)] for i in range(4)]))
        result["ask_4_clients"] = {
            "waits_s": sorted(round(m.get("started_s", 0), 2) for m in asks),
            "ends_s": sorted(round(m.get("end_s", 0), 2) for m in asks),
            "queued_positions": sorted(m.get("queued_at", 0) for m in asks),
        }
        result["rss_after_mb"] = round(rss_mb(server.pid), 1)
    finally:
        server.terminate()
        server.wait(60)
    print(json.dumps(result, indent=1))
    if options.out:
        options.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
