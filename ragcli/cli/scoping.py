"""`--path` and `--type`: the options that scope `search` and `ask` to some documents."""

from __future__ import annotations

from typing import Any, Optional

import typer

PathOption = typer.Option(
    None, "--path", metavar="GLOB",
    help="Only documents matching GLOB (repeatable): '*.pdf', 'howto/*', '~/docs/manuals'; '*' stays in one folder, '**' crosses folders.",
)
TypeOption = typer.Option(None, "--type", metavar="pdf|html|md|txt", help="Only documents of this type (repeatable).")


def scope_flags(paths: Optional[list[str]], types: Optional[list[str]]) -> dict[str, Any]:
    """Config overrides for the scope; None leaves the configured scope in place."""
    return {
        "retrieval.paths": tuple(paths) if paths else None,
        "retrieval.types": tuple(t.lower() for t in types) if types else None,
    }
