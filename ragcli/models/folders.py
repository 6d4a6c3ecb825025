"""Model folders and files named in config: a bundled short name or a local path.

One fingerprint recipe identifies a folder (an index records its embedder by it, so two folders
with the same name but different models never share an index), and one resolver turns a
configured name into a file or folder with the same errors for every role.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, Mapping

from ragcli.errors import ModelError
from ragcli.models.packaged import PackagedModel, materialize


def folder_fingerprint(folder: Path) -> str:
    """Short hash of a folder's file names and sizes and its JSON configuration.

    Recorded in indexes as part of the embedder id: changing the recipe would make every index
    built with a local model folder refuse to open.
    """
    digest = hashlib.sha256()
    for entry in sorted(folder.rglob("*")):
        if entry.is_file():
            relative = entry.relative_to(folder).as_posix()
            digest.update(f"{relative}:{entry.stat().st_size}\n".encode())
            if entry.suffix == ".json" and entry.stat().st_size < 1_000_000:
                digest.update(entry.read_bytes())
    return digest.hexdigest()[:12]


def resolve_model(
    name: str,
    bundled: Mapping[str, PackagedModel],
    cache_dir: Path,
    *,
    kind: Literal["file", "folder"],
    setting: str,
    flag: str = "",
    also: tuple[str, ...] = (),
) -> Path:
    """The model ``name`` stands for: a bundled short name (assembled on first use) or a local
    path of the given ``kind``. ``setting``, ``flag`` and ``also`` (other accepted names, such
    as fakes) make the error say what to write instead."""
    packaged = bundled.get(name.lower())
    if packaged is not None:
        return materialize(packaged, cache_dir)
    path = Path(name).expanduser()
    if (path.is_file() if kind == "file" else path.is_dir()):
        return path.resolve()
    what = "GGUF file" if kind == "file" else "model folder"
    fakes = f", the test fake {' or '.join(also)}," if also else ""
    raise ModelError(
        f"{setting} {name!r} is neither a bundled model ({', '.join(bundled) or 'none'}){fakes} nor an existing {what}",
        hint=f"Set {setting}" + (f" (or pass {flag})" if flag else "") + f" to one of the bundled names or to the path of a local {what}.",
    )
