"""What a person at a terminal waits for in `rag ask`, for several checkouts side by side.

Each run starts `python -m ragcli ask QUESTION` from a checkout with stdout and stderr on two
pseudo-terminals of their own (as in a real terminal, so the live display is on) and records,
from the moment the process starts:

- first output: the first byte on either terminal (a status line, or the answer itself);
- first draft text: the first byte of the model's words on the terminal, checked or not (the
  dim draft on stderr, which starts with the cursor save that begins the preview, or stdout);
- first answer text: the first byte on stdout (checked text);
- end: the process exits.

Checkouts and questions are interleaved, round after round, so that machine load falls on all
alike; the medians per checkout are printed and written as JSON.

    .venv/bin/python benchmarks/ask_latency.py --index /path/to/index \\
        --checkout new=. --checkout baseline=/path/to/other/worktree \\
        --question "How do I ..." --question "..." [--rounds 2] [--before-each new:'rm -f ...']
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import selectors
import shlex
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

DRAFT_START = b"\x1b7"  # cli/asking.py's _SAVE: the live display saves the cursor before a draft preview
# Before any checked sentence, the draft follows the status line's elapsed time: "writing 10.6s  To force ..."
STATUS_PREVIEW = re.compile(rb"\d\.\ds  \S")
# A terminal's size: a fresh pseudo-terminal has none (0 x 0), and the display sizes its preview by it.
COLUMNS, ROWS = 120, 40


def _sized(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))


def one_run(checkout: Path, question: str, env: dict) -> dict:
    out_main, out_child = pty.openpty()
    err_main, err_child = pty.openpty()
    for fd in (out_child, err_child):
        _sized(fd)
    own = checkout / ".venv" / "bin" / "python"
    python = own if own.exists() else Path(sys.executable)  # `-m` imports the checkout's ragcli either way
    started = time.perf_counter()
    process = subprocess.Popen([str(python), "-m", "ragcli", "ask", question], cwd=checkout, env=env,
                               stdin=subprocess.DEVNULL, stdout=out_child, stderr=err_child)
    os.close(out_child)
    os.close(err_child)
    selector = selectors.DefaultSelector()
    selector.register(out_main, selectors.EVENT_READ, "stdout")
    selector.register(err_main, selectors.EVENT_READ, "stderr")
    first: dict[str, float] = {}
    text = {"stdout": b"", "stderr": b""}
    open_streams = 2
    while open_streams:
        for key, _ in selector.select():
            try:
                data = os.read(key.fd, 65536)
            except OSError:  # the child closed its side of the terminal
                data = b""
            if not data:
                selector.unregister(key.fd)
                open_streams -= 1
                continue
            now = time.perf_counter() - started
            first.setdefault(key.data, now)
            if key.data == "stdout" or DRAFT_START in data or STATUS_PREVIEW.search(data):
                first.setdefault("draft", now)
            text[key.data] += data
    process.wait()
    ended = time.perf_counter() - started
    os.close(out_main)
    os.close(err_main)
    return {
        "first_output_s": min(first.values()) if first else None,
        "first_draft_text_s": first.get("draft"),
        "first_answer_text_s": first.get("stdout"),
        "end_s": ended,
        "exit": process.returncode,
        "answer": text["stdout"].decode("utf-8", "replace")[:200],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--checkout", action="append", required=True, help="NAME=PATH, a checkout (its own .venv, or this Python)")
    parser.add_argument("--question", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before-each", action="append", default=[], help="NAME:SHELL, run before each of NAME's runs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    before = dict(item.split(":", 1) for item in args.before_each)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_INDEX": str(args.index), "HF_HUB_OFFLINE": "1", "TERM": env.get("TERM", "xterm-256color")})
    env.pop("NO_COLOR", None)
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    for round_number in range(args.rounds):
        for question in args.question:
            for name, path in checkouts.items():
                if name in before:
                    subprocess.run(before[name], shell=True, check=True)
                result = one_run(Path(path).resolve(), question, env)
                runs[name].append({"question": question, **result})
                print(f"round {round_number + 1} {name}: first output {result['first_output_s']:.2f} s, "
                      f"draft {result['first_draft_text_s'] or float('nan'):.2f} s, answer text {result['first_answer_text_s'] or float('nan'):.2f} s, end {result['end_s']:.2f} s, "
                      f"exit {result['exit']}", flush=True)

    def median(name: str, field: str) -> float | None:
        values = [r[field] for r in runs[name] if r[field] is not None]
        return round(statistics.median(values), 2) if values else None

    summary = {name: {field: median(name, field) for field in ("first_output_s", "first_draft_text_s", "first_answer_text_s", "end_s")}
               for name in checkouts}
    summary["load_average"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    summary["command"] = " ".join(shlex.quote(a) for a in sys.argv)
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
