"""Building the settings: built-in defaults < ``--config`` TOML file < ``RAG_*`` environment
variables < command-line flags. This is the only module that reads ``os.environ``.

Settings renamed or retired in a release keep being read for one more release, with a note
that says what to write instead (``RENAMED``, ``RETIRED``), so users' config files do not break.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tomllib
import typing
from pathlib import Path
from typing import Any, Mapping

from ragcli.config.sections import SECTIONS, Settings
from ragcli.config.validation import validate
from ragcli.errors import ConfigError

# Old name -> new name (ragcli 0.2 -> 0.3): the gates got their own section, the verifier its threshold.
RENAMED = {
    "retrieval.min_similarity": "answer.min_similarity",
    "retrieval.unknown_names": "answer.unknown_names",
    "generation.min_support": "verification.min_support",
}
# Settings that no longer exist, with why; a value given for one is ignored with a note.
RETIRED = {
    "generation.merge_adjacent": "prompts always take separate chunks, which fit more evidence in the budget"
    ' (benchmarks/RESULTS.md, "Answer quality per generator"); retrieval.merge_adjacent still shapes `rag search`',
    "generation.passage_tokens": "cutting passages to the sentences nearest the question was never measured to help",
}
_HINT = "See configs/default.toml for every setting."
# Settings outside any section.
_TOP_LEVEL = ("cache_dir", "state_dir")
# A settings file is a few kilobytes; a larger one is a mistake (or a device), not read whole.
_MAX_CONFIG_BYTES = 1 << 20


def _user_dir(environ: Mapping[str, str], env_name: str, fallback: str) -> Path:
    base = environ.get(env_name)
    return Path(base).expanduser() if base else Path.home() / fallback


def default_index_dir(environ: Mapping[str, str]) -> Path:
    return _user_dir(environ, "XDG_DATA_HOME", ".local/share") / "ragcli" / "index"


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    return _user_dir(environ, "XDG_CACHE_HOME", ".cache") / "ragcli"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    return _user_dir(environ, "XDG_STATE_HOME", ".local/state") / "ragcli"


def _coerce(value: Any, target: type, where: str) -> Any:
    if typing.get_origin(target) is tuple:
        return _coerce_strings(value, where)
    if isinstance(value, str) and target is not str:
        text = value.strip()
        try:
            if target is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return _coerce(target(text), target, where) if target is float else target(text)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a valid {target.__name__}", hint=f"Set {where} to a {target.__name__} value.") from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, target) or (target is int and isinstance(value, bool)):
        raise ConfigError(
            f"{where}: expected {target.__name__}, got {type(value).__name__} {value!r}", hint=f"Set {where} to a {target.__name__} value."
        )
    if target is float and not math.isfinite(value):
        # inf would silently switch a limit off (parsing.timeout_s = inf: no timeout at all).
        raise ConfigError(f"{where}: {value!r} is not a finite number", hint=f"Set {where} to a finite number.")
    return value


def _coerce_strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings: a TOML/flag list, or one environment string split on os.pathsep."""
    if isinstance(value, str):
        return tuple(part for part in value.split(os.pathsep) if part)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: expected a list of strings, got {type(value).__name__} {value!r}",
        hint=f'Set {where} to a list such as ["*.pdf"] (in the environment: values separated by "{os.pathsep}").',
    )


def _current_names(overrides: Mapping[str, Any], origin: str, notes: list[str]) -> dict[str, Any]:
    """``overrides`` with renamed settings under their new names and retired ones dropped, noting each."""
    current: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        if dotted in RETIRED:
            notes.append(f"{origin}: {dotted} is no longer a setting and is ignored: {RETIRED[dotted]}; remove it")
            continue
        if dotted in RENAMED:
            new = RENAMED[dotted]
            notes.append(f"{origin}: {dotted} is now {new}; the old name is read until the next release")
            if new in overrides and overrides[new] is not None:
                continue  # the new name, given too, wins
            dotted = new
        current[dotted] = value
    return current


def _apply(settings: Settings, overrides: Mapping[str, Any], origin: str, notes: list[str]) -> Settings:
    """Return settings with dotted keys (``section.key`` or ``cache_dir``) replaced."""
    grouped: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for dotted, value in _current_names(overrides, origin, notes).items():
        section, _, key = dotted.partition(".")
        if not key:
            if section not in _TOP_LEVEL:
                raise ConfigError(f"{origin}: unknown setting {dotted!r}", hint=_HINT)
            top[section] = _coerce(value, str, f"{origin} {section}")
            continue
        if section not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{section}]", hint=_HINT)
        hints = typing.get_type_hints(SECTIONS[section])
        if key not in hints:
            raise ConfigError(f"{origin}: unknown setting {dotted!r}", hint=_HINT)
        grouped.setdefault(section, {})[key] = _coerce(value, hints[key], f"{origin} {dotted}")
    changes: dict[str, Any] = dict(top)
    for section, values in grouped.items():
        changes[section] = dataclasses.replace(getattr(settings, section), **values)
    return dataclasses.replace(settings, **changes)


def _flatten_toml(data: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                flat[f"{name}.{key}"] = inner
        else:
            flat[name] = value
    return flat


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read ``RAG_SECTION_KEY`` variables (old names too), plus the short ``RAG_INDEX`` and ``RAG_CACHE_DIR``."""
    found: dict[str, Any] = {}
    if environ.get("RAG_INDEX"):
        found["index.dir"] = environ["RAG_INDEX"]
    for name in _TOP_LEVEL:
        if environ.get(f"RAG_{name.upper()}"):
            found[name] = environ[f"RAG_{name.upper()}"]
    names = [f"{section}.{key}" for section, cls in SECTIONS.items() for key in typing.get_type_hints(cls)]
    for dotted in names + list(RENAMED) + list(RETIRED):
        variable = "RAG_" + dotted.replace(".", "_").upper()
        if variable in environ:
            found[dotted] = environ[variable]
    return found


def _read_config(path: Path) -> str:
    """The config file's text; a FIFO or device given as --config is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"config file {path} is not a regular file", hint="Pass --config the path of a TOML file.")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(_MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {_MAX_CONFIG_BYTES // 1024} KB: not a settings file", hint="Pass --config the path of a TOML file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc}", hint="Save it as UTF-8.") from None


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings: defaults < config file < RAG_* environment < flags."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    notes: list[str] = []
    if config_file is not None:
        try:
            data = tomllib.loads(_read_config(Path(config_file)))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}", hint="Check the --config path.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}", hint="Fix the file; configs/default.toml shows the format.") from exc
        settings = _apply(settings, _flatten_toml(data), str(config_file), notes)
    settings = _apply(settings, _from_environment(environ), "environment", notes)
    settings = _apply(settings, flags or {}, "option", notes)
    if not settings.index.dir:
        settings = dataclasses.replace(settings, index=dataclasses.replace(settings.index, dir=str(default_index_dir(environ))))
    if not settings.cache_dir:
        settings = dataclasses.replace(settings, cache_dir=str(default_cache_dir(environ)))
    if not settings.state_dir:
        settings = dataclasses.replace(settings, state_dir=str(default_state_dir(environ)))
    validate(settings)
    return dataclasses.replace(settings, notes=tuple(dict.fromkeys(notes)))


def setting_origins(config_file: Path | None, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each setting that was set came from (``section.key`` -> "option", the environment
    variable's name, or the config file's path); a setting not listed has its built-in default.
    The layers are read as ``load_settings`` reads them, later ones winning."""
    environ = os.environ if environ is None else environ
    origins: dict[str, str] = {}
    notes: list[str] = []
    if config_file is not None:
        data = tomllib.loads(_read_config(Path(config_file)))
        origins.update(dict.fromkeys(_current_names(_flatten_toml(data), "", notes), str(config_file)))
    variables = {"index.dir": "RAG_INDEX", **{name: f"RAG_{name.upper()}" for name in _TOP_LEVEL}}
    for dotted in _current_names(_from_environment(environ), "", notes):
        variable = variables.get(dotted, "RAG_" + dotted.replace(".", "_").upper())
        origins[dotted] = variable if variable in environ else "environment"
    origins.update(dict.fromkeys(_current_names(flags or {}, "", notes), "option"))
    return origins


def settings_table(settings: Settings) -> dict[str, Any]:
    """Every setting by section as plain values (tuples as lists): what `rag config show` prints."""
    table: dict[str, Any] = {name: getattr(settings, name) for name in _TOP_LEVEL}
    for section in SECTIONS:
        values = dataclasses.asdict(getattr(settings, section))
        table[section] = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
    if table["generation"]["endpoint_token"]:
        table["generation"]["endpoint_token"] = "(set, not shown)"
    return table


def describe_settings(config_file: Path | None, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What `rag config show` and `rag config path` print: the settings in effect, where each set
    one came from, and the files and folders they point to."""
    settings = load_settings(config_file, flags, environ)
    return {
        "settings": settings_table(settings),
        "origins": setting_origins(config_file, flags, environ),
        "paths": {
            "config_file": str(Path(config_file).resolve()) if config_file is not None else None,
            "index": str(settings.index_path),
            "cache": str(settings.cache_path),
            "state": str(settings.state_path),
        },
        "notes": list(settings.notes),
    }
