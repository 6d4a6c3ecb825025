"""The watcher's delay from a file write to searchable (benchmarks/RESULTS.md, "More formats, HTML
through beautifulsoup4, CJK, watch").

`rag watch`'s library function runs on a thread with the default settings and embedder over a
temporary folder (empty, or holding a copy of FOLDER, to show what the folder's size costs: each
re-sync walks it and stats every file). A new Markdown note with a word of its own is written,
and the full-text index is polled every 10 ms until a committed chunk holds the word. Repeated
ROUNDS times; the first (the initial re-sync, the embedder loading) is not counted.

    python benchmarks/watch_delay.py [--folder /work/dev/corpus/git] [--rounds 10]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.config import load_settings  # noqa: E402
from ragcli.watch import WatchEventKind, watch  # noqa: E402


def searchable(catalog: Path, word: str) -> bool:
    if not catalog.exists():
        return False
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM chunk_terms WHERE chunk_terms MATCH ? LIMIT 1", (f'"{word}"',)).fetchone() is not None
    except sqlite3.OperationalError:  # the index is being created
        return False
    finally:
        db.close()


def run(folder: Path | None, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        watched = Path(work) / "docs"
        if folder is not None:
            shutil.copytree(folder, watched)
        else:
            watched.mkdir()
        settings = load_settings(flags={"index.dir": str(Path(work) / "index"), "reranking.mode": "off"})
        catalog = settings.index_path / "catalog.sqlite3"
        events, stop = [], threading.Event()
        thread = threading.Thread(target=watch, args=(settings, [watched]), kwargs={"on_event": events.append, "stop": stop})
        thread.start()
        delays = []
        for n in range(rounds + 1):
            while not any(e.kind is WatchEventKind.SYNCED for e in events):
                time.sleep(0.05)
            word = f"zyxwatchword{n}"
            started = time.monotonic()
            (watched / f"note-{n}.md").write_text(f"# Note {n}\n\nThe {word} note was written by the benchmark.\n")
            while not searchable(catalog, word):
                time.sleep(0.01)
            delays.append(time.monotonic() - started)
            time.sleep(0.5)
        stop.set()
        thread.join()
        files = sum(1 for path in watched.rglob("*") if path.is_file())
    counted = sorted(delays[1:])
    return {"files_watched": files, "rounds": len(counted),
            "median_s": statistics.median(counted), "max_s": counted[-1], "min_s": counted[0], "first_s": delays[0],
            "quiet_ms": settings.watch.quiet_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="Also measure with a copy of this folder being watched.")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    for folder in [None] + ([args.folder] if args.folder else []):
        result = run(folder, args.rounds)
        print(f"{'empty folder' if folder is None else folder}: {result}", flush=True)


if __name__ == "__main__":
    main()
