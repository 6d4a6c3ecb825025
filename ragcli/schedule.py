"""`rag schedule`: a crontab line that re-syncs the index every night, and installing it.

Everything written to a crontab is built from validated parts: cron reads one entry per line
and turns every unescaped ``%`` into a newline, and the shell runs what follows. So no part may
hold a control character, environment names must be plain names, values are shell-quoted, and a
``%`` never reaches cron as such (the shell prints it from its octal code instead).
"""

from __future__ import annotations

import hashlib
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
_ENV_NAME = re.compile(r"^RAG_[A-Z0-9_]+$")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A shell word that prints "%": cron would cut the line at a literal one.
_PERCENT = "\"$(printf '\\045')\""


@dataclass(frozen=True)
class Schedule:
    line: str
    marker: str
    log: str
    index: str

    def to_json(self) -> dict:
        return {"line": self.line, "marker": self.marker, "log": self.log, "index": self.index}


def _command_prefix() -> list[str]:
    """The `rag` of this installation, so cron runs the same version with the same packages."""
    launcher = Path(sys.executable).with_name("rag")
    return [str(launcher)] if launcher.exists() else [sys.executable, "-m", "ragcli"]


def _safe(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise ConfigError(
            f"cannot schedule: {what} {value!r} contains a control character (a newline would start a new crontab entry)",
            hint=f"Use a {what} without control characters.",
        )
    return value


def cron_word(word: str, what: str) -> str:
    """``word`` as one shell word that survives cron: quoted, with any % produced by the shell."""
    return _PERCENT.join(shlex.quote(piece) for piece in _safe(word, what).split("%"))


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


def schedule_marker(index: Path) -> str:
    """The comment that ends this index's crontab line: an id of the path, so that no character of
    the path can break the line or its matching."""
    return f"# ragcli:{hashlib.sha256(str(index).encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def _environment(environ: Mapping[str, str]) -> list[str]:
    assignments = []
    for name, value in sorted(environ.items()):
        if not name.startswith("RAG_"):
            continue
        if not _ENV_NAME.match(name):
            raise ConfigError(
                f"cannot schedule: environment variable {name!r} is not a plain RAG_* name",
                hint="Unset it, or rename it to letters, digits and underscores only.",
            )
        assignments.append(f"{name}={cron_word(value, f'the value of {name}')}")
    return assignments


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
    command = [*_command_prefix(), "--index", str(index)]
    if config_file is not None:
        command += ["--config", str(config_file.expanduser().resolve())]
    # --log: every line goes to the log, timestamped and size-capped; only failures and errors reach
    # stderr, which cron mails: a quiet night sends nothing.
    command += ["ingest", "--quiet", "--wait", str(WAIT_SECONDS), "--log", str(log_path)]
    words = _environment(environ) + [cron_word(word, "path") for word in command]
    marker = schedule_marker(index)
    # umask 077: the log names the user's files, so it is theirs alone.
    line = f"{cron_time(at, expression)} umask 077; {' '.join(words)} {marker}"
    return Schedule(line=line, marker=marker, log=str(log_path), index=str(index))


def check_runs(schedule: Schedule, config_file: Path | None, environ: Mapping[str, str]) -> None:
    """Refuse a line that would fail every night: cron runs it with only the RAG_* variables
    carried in the line, so its settings must open this index and match how it was built."""
    from ragcli.config import load_settings
    from ragcli.embedding import load_embedder
    from ragcli.store.index import Index

    carried = {name: value for name, value in environ.items() if name.startswith("RAG_")}
    settings = load_settings(config_file, {"index.dir": schedule.index}, carried)
    try:
        index = Index.open_for_reading(settings)
    except RagError as exc:
        raise RagError(f"not installing the schedule: {exc}", hint="Run `rag ingest PATH...` for this index first, then install the schedule.") from exc
    with index:
        if not index.catalog.documents.roots():
            raise RagError(f"not installing the schedule: index {schedule.index} remembers no folders to re-sync", hint="Run `rag ingest PATH...` first.")
        embedder = load_embedder(settings)  # lazy: the id and dimension, no weights
        changed = index.built_as(settings, embedder.id, embedder.dimension)
    if changed:
        raise RagError(
            f"not installing the schedule: with the settings cron would run it with, the index does not match ({changed})",
            hint="Run `rag schedule --install` with the --config and RAG_* variables the index was built with.",
        )


def _is_ours(line: str, schedule: Schedule) -> bool:
    """This index's line: our marker, or the marker ragcli 0.2 wrote (the index path itself)."""
    stripped = line.rstrip()
    return stripped.endswith(schedule.marker) or stripped.endswith(f"# ragcli:{schedule.index}")


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
    kept = [line for line in existing if not _is_ours(line, schedule)]
    table = "\n".join(kept + [schedule.line]) + "\n"
    written = subprocess.run([crontab, "-"], input=table, capture_output=True, text=True)
    if written.returncode != 0:
        raise RagError(f"cannot write your crontab: {written.stderr.strip() or 'crontab - failed'}")
    return table
