"""`rag config show` and `rag config path`: the settings in effect, and where ragcli keeps its files."""

from __future__ import annotations

import json
from typing import Any

import typer

from ragcli.cli.app import app, print_json, run_command
from ragcli.cli.options import JsonOption
from ragcli.cli.terminal import echo

config_app = typer.Typer(help="Show the settings in effect and where ragcli keeps its files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _described(ctx: typer.Context) -> dict[str, Any]:
    from ragcli.config import describe_settings

    options = ctx.obj
    flags = {"index.dir": str(options.index)} if options.index is not None else {}
    return describe_settings(options.config, flags)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    # JSON's string escapes are all valid in a TOML basic string.
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(described: dict[str, Any]) -> str:
    origins = described["origins"]

    def line(dotted: str, key: str, value: Any) -> str:
        text = f"{key} = {toml_value(value)}"
        return f"{text}  # {origins[dotted]}" if dotted in origins else text

    table = described["settings"]
    lines = ["# The settings in effect: built-in defaults < --config file < RAG_* environment < options.",
             "# A setting that is not at its default says where it was set. This is valid TOML for --config."]
    lines += [line(name, name, value) for name, value in table.items() if not isinstance(value, dict)]
    for section, values in table.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"] + [line(f"{section}.{key}", key, value) for key, value in values.items()]
    return "\n".join(lines)


@config_app.command("show")
def config_show(ctx: typer.Context, json_output: bool = JsonOption) -> None:
    """Print every setting in effect as TOML, each one that was set marked with where (file, RAG_* variable, option)."""

    def action() -> None:
        described = _described(ctx)
        if json_output:
            print_json(described)
        else:
            echo(render_toml(described))

    run_command(ctx, action)


@config_app.command("path")
def config_path(ctx: typer.Context, json_output: bool = JsonOption) -> None:
    """Print the config file read (if any) and the index, cache and state folders in use."""

    def action() -> None:
        paths = _described(ctx)["paths"]
        if json_output:
            print_json(paths)
            return
        echo(f"config file: {paths['config_file'] or '(none: built-in defaults; pass --config FILE, e.g. configs/default.toml)'}")
        echo(f"index:       {paths['index']}")
        echo(f"cache:       {paths['cache']}  (prepared models)")
        echo(f"state:       {paths['state']}  (chat history)")

    run_command(ctx, action)
