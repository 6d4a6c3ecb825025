"""`rag ingest --log FILE`: the whole story of a run in a file, for cron.

Every line is timestamped (nights pile up in one file) and the file is private (it names the
user's files). Past ``ingest.log_max_kb`` it is moved to FILE.1 before the run starts, so two
files at most, never a full disk. The terminal (cron's mail) gets only what went wrong.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ragcli.cli.terminal import one_line


class RunLog:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path.expanduser()
        try:
            if self.path.stat().st_size >= max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")

    def write(self, line: str) -> None:
        self._file.write(time.strftime("%Y-%m-%d %H:%M:%S ") + one_line(line) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
