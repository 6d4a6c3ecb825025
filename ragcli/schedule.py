"""`rag schedule`: a crontab line that re-syncs the index every night, and installing it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ragcli.config import Settings
from ragcli.errors import ConfigError, RagError

# Generous: a nightly run should wait for a long manual ingest rather than fail.
WAIT_SECONDS = 3600
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


@dataclass(frozen=True)
class Schedule:
    line: str
    marker: str
    log: str

    def to_json(self) -> dict:
        return {"line": self.line, "marker": self.marker, "log": self.log}


def _command_prefix() -> list[str]:
    """The `rag` of this installation, so cron runs the same version with the same packages."""
    launcher = Path(sys.executable).with_name("rag")
    return [str(launcher)] if launcher.exists() else [sys.executable, "-m", "ragcli"]


def _cron_quote(word: str) -> str:
    # cron turns an unescaped % into a newline.
    return shlex.quote(word).replace("%", "\\%")


def cron_time(at: str | None, expression: str | None) -> str:
    """Five cron fields from ``--at HH:MM`` (daily) or a raw cron expression."""
    if expression:
        fields = expression.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ConfigError(f"--cron {expression!r} is not five cron fields", hint='Example: --cron "30 2 * * 1-5".')
        return " ".join(fields)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", at or "03:17")
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"--at {at!r} is not a time of day", hint="Use HH:MM, for example --at 02:30.")
    return f"{int(match[2])} {int(match[1])} * * *"


def build_schedule(
    settings: Settings,
    *,
    config_file: Path | None,
    environ: Mapping[str, str],
    at: str | None = None,
    expression: str | None = None,
    log: Path | None = None,
) -> Schedule:
    """The crontab line for this index; ``environ`` holds the RAG_* variables to carry into cron's bare environment."""
    index = settings.index_path
    log_path = (log or index.with_name(index.name + ".log")).expanduser().resolve()
    marker = f"# ragcli:{index}"
    assignments = [f"{name}={_cron_quote(value)}" for name, value in sorted(environ.items()) if name.startswith("RAG_")]
    command = _command_prefix() + ["--index", str(index)]
    if config_file is not None:
        command += ["--config", str(config_file.expanduser().resolve())]
    command += ["ingest", "--quiet", "--wait", str(WAIT_SECONDS)]
    words = assignments + [_cron_quote(word) for word in command]
    line = f"{cron_time(at, expression)} {' '.join(words)} >> {_cron_quote(str(log_path))} 2>&1 {marker}"
    return Schedule(line=line, marker=marker, log=str(log_path))


def install_schedule(schedule: Schedule) -> str:
    """Add the line to the user's crontab, replacing an earlier line for the same index. Returns the new crontab."""
    crontab = shutil.which("crontab")
    if crontab is None:
        raise RagError(
            "cannot install the schedule: no `crontab` command on this machine",
            hint="Install cron, or add the line printed by `rag schedule` to your scheduler (e.g. a systemd timer).",
        )
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True)
    # `crontab -l` fails when the user has no crontab yet; any other failure is reported.
    if current.returncode != 0 and "no crontab" not in current.stderr.lower():
        raise RagError(f"cannot read your crontab: {current.stderr.strip() or 'crontab -l failed'}")
    existing = current.stdout.splitlines() if current.returncode == 0 else []
    kept = [line for line in existing if not line.rstrip().endswith(schedule.marker)]
    table = "\n".join(kept + [schedule.line]) + "\n"
    written = subprocess.run([crontab, "-"], input=table, capture_output=True, text=True)
    if written.returncode != 0:
        raise RagError(f"cannot write your crontab: {written.stderr.strip() or 'crontab - failed'}")
    return table
