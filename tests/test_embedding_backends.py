"""Embedding backends: folder description, pooling, ids, laziness; ONNX against torch with the real model."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ragcli.config import EmbeddingSettings, load_settings
from ragcli.embedding import embedder_id, load_embedder
from ragcli.embedding.lazy import LazyEmbedder
from ragcli.embedding.model_folder import describe_folder
from ragcli.embedding.onnx_runtime import normalize, pool
from ragcli.errors import ConfigError, ModelError


def write_folder(root: Path, modules: list[dict] | None, pooling: dict | None = None, hidden: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"hidden_size": hidden, "max_position_embeddings": 512}))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    if modules is not None:
        (root / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (root / "1_Pooling").mkdir(exist_ok=True)
        (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return root


ST = "sentence_transformers.models."


def embedder_in(cache: Path, **embedding):
    """The configured embedder with its ONNX exports in ``cache``."""
    flags = {"cache_dir": str(cache), **{f"embedding.{key}": value for key, value in embedding.items()}}
    return load_embedder(load_settings(flags=flags, environ={}))


def test_describe_folder_reads_pooling_normalisation_and_window(tmp_path):
    folder = write_folder(
        tmp_path / "m",
        [{"path": "", "type": ST + "Transformer"}, {"path": "1_Pooling", "type": ST + "Pooling"}, {"path": "2_Normalize", "type": ST + "Normalize"}],
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False},
    )
    described = describe_folder(folder)
    assert (described.dimension, described.max_seq_length, described.pooling, described.normalize) == (8, 128, "cls", True)
    assert described.extra_modules == () and described.tokenizer_file is None
    assert described.default_id().startswith("sentence-transformers:m:")


def test_describe_folder_flags_modules_onnx_cannot_run_and_changes_fingerprint(tmp_path):
    plain = describe_folder(write_folder(tmp_path / "m", [{"path": "", "type": ST + "Transformer"}]))
    assert plain.pooling == "mean" and not plain.normalize
    dense = describe_folder(write_folder(tmp_path / "m", [{"path": "", "type": ST + "Transformer"}, {"path": "2", "type": ST + "Dense"}]))
    assert dense.extra_modules == (ST + "Dense",)
    assert dense.fingerprint != plain.fingerprint


def test_describe_folder_refuses_a_folder_without_config(tmp_path):
    with pytest.raises(ModelError, match="not a sentence-transformers model folder"):
        describe_folder(tmp_path)


def test_pooling_matches_sentence_transformers_definitions():
    tokens = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    assert np.allclose(pool(tokens, mask, "mean")[0], tokens[0, :2].mean(axis=0))
    assert np.allclose(pool(tokens, mask, "mean")[1], tokens[1].mean(axis=0))
    assert np.allclose(pool(tokens, mask, "cls"), tokens[:, 0])
    assert np.allclose(pool(tokens, mask, "max")[0], tokens[0, 1])
    assert np.allclose(np.linalg.norm(normalize(pool(tokens, mask, "mean")), axis=1), 1.0)
    with pytest.raises(ModelError):
        pool(tokens, mask, "lasttoken")


def test_int8_gets_its_own_embedder_id_and_fp32_shares_torchs():
    base = "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder_id(base, EmbeddingSettings(backend="torch")) == base
    assert embedder_id(base, EmbeddingSettings(backend="onnx", precision="fp32")) == base
    assert embedder_id(base, EmbeddingSettings(backend="onnx", precision="int8")) != base


def test_config_refuses_int8_with_torch_and_unknown_backends():
    with pytest.raises(ConfigError, match="int8"):
        load_settings(flags={"embedding.backend": "torch", "embedding.precision": "int8"}, environ={})
    with pytest.raises(ConfigError, match="embedding.backend"):
        load_settings(flags={"embedding.backend": "tensorflow"}, environ={})
    settings = load_settings(environ={"RAG_EMBEDDING_PRECISION": "int8"})
    assert settings.embedding.precision == "int8"


class CountingLoader:
    def __init__(self, dimension: int) -> None:
        self.calls = 0
        self.dimension = dimension

    def __call__(self):
        self.calls += 1
        from ragcli.embedding.hashing import HashEmbedder

        inner = HashEmbedder()
        dimension = self.dimension

        class Padded:
            id, max_tokens = "x", 100

            def count_tokens(self, texts):
                return inner.count_tokens(texts)

            def embed(self, texts):
                return normalize(np.resize(inner.embed(texts), (len(texts), dimension)) + 1e-3)

        return Padded()


def test_lazy_embedder_loads_the_model_only_to_embed(tmp_path):
    folder = describe_folder(write_folder(tmp_path / "m", None))
    loader = CountingLoader(folder.dimension)
    lazy = LazyEmbedder(folder, "test-id", loader)
    assert (lazy.id, lazy.dimension) == ("test-id", 8)
    assert lazy.embed([]).shape == (0, 8) and loader.calls == 0
    assert lazy.count_tokens(["two words"]) == [2] and loader.calls == 1  # no tokenizer.json: the model counts
    lazy.embed(["a", "b"])
    assert loader.calls == 1


def test_unchanged_reingest_never_loads_the_model(settings, docs):
    """The real bundled folder (JSON and tokenizer only) with a fake model behind it."""
    from ragcli.embedding import MINILM
    from ragcli.ingest import ingest
    from ragcli.models.packaged import materialize

    folder = describe_folder(materialize(MINILM, settings.cache_path))
    first = CountingLoader(folder.dimension)
    report = ingest(settings, [docs], embedder=LazyEmbedder(folder, "lazy-test", first))
    assert report.indexed > 0 and first.calls == 1

    def refuse():
        raise AssertionError("the model was loaded for an unchanged corpus")

    again = ingest(settings, [docs], embedder=LazyEmbedder(folder, "lazy-test", refuse))
    assert again.indexed == 0 and again.unchanged == report.indexed


def test_default_embedder_is_lazy_and_imports_nothing_heavy(tmp_path):
    """Loading the configured embedder reads JSON only: no torch, onnxruntime or sentence-transformers."""
    import subprocess
    import sys

    code = (
        "import sys, json; from pathlib import Path\n"
        "from ragcli.config import load_settings; from ragcli.embedding import load_embedder\n"
        f"e = load_embedder(load_settings(flags={{'cache_dir': {str(tmp_path)!r}}}, environ={{}}))\n"
        "print(json.dumps([e.id, e.dimension, e.max_tokens, sorted(m for m in ('torch', 'onnxruntime', 'sentence_transformers', 'transformers') if m in sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    ident, dimension, max_tokens, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert (ident, dimension, max_tokens, heavy) == ("sentence-transformers/all-MiniLM-L6-v2", 384, 254, [])


TEXTS = [
    "When I run git ls-tree from a subdirectory, how do I list the whole tree?",
    "set terminal pngcairo size 800,600 enhanced font 'Verdana,10'",
    "a",
    "The credential helper 'store' saves credentials unencrypted on disk. " * 30,  # over the 256-token window
    "Ünïcödé text, emoji 🙂 and CJK 漢字 mixed in.",
]


@pytest.mark.slow
def test_onnx_fp32_matches_torch_and_int8_stays_close(tmp_path):
    torch_embedder = embedder_in(tmp_path, backend="torch")
    fp32 = embedder_in(tmp_path, backend="onnx", precision="fp32")
    int8 = embedder_in(tmp_path, backend="onnx", precision="int8")
    reference = torch_embedder.embed(TEXTS)
    # Batches of one and of several (padding) must give the same vectors.
    onnx_vectors = fp32.embed(TEXTS)
    assert np.abs(onnx_vectors - reference).max() < 1e-4
    assert np.abs(fp32.embed(TEXTS[:1]) - reference[:1]).max() < 1e-4
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    quantized = int8.embed(TEXTS)
    cosines = (quantized * reference).sum(axis=1)
    assert cosines.min() > 0.95, cosines
    assert fp32.id == torch_embedder.id and int8.id != fp32.id
    # Token counts and window (chunking depends on them) agree with the transformers tokenizer.
    real = torch_embedder._real()
    assert fp32.count_tokens(TEXTS) == real.count_tokens(TEXTS) == torch_embedder.count_tokens(TEXTS)
    assert fp32.max_tokens == real.max_tokens == 254
    # Exported once, atomically: the cache holds the two models and no temporary files.
    cached = sorted(p.name for p in (tmp_path / "onnx").rglob("*") if p.is_file())
    assert cached == ["model-fp32.onnx", "model-fp32.opt.onnx", "model-int8.onnx", "model-int8.opt.onnx"]
    stamp = [p.stat().st_mtime_ns for p in (tmp_path / "onnx").rglob("*.onnx")]
    embedder_in(tmp_path, backend="onnx", precision="int8").embed(["again"])
    assert [p.stat().st_mtime_ns for p in (tmp_path / "onnx").rglob("*.onnx")] == stamp


def test_onnx_refuses_a_folder_with_modules_it_cannot_run(tmp_path):
    from ragcli.embedding.onnx_export import onnx_model_file

    folder = describe_folder(write_folder(tmp_path / "m", [{"path": "", "type": ST + "Transformer"}, {"path": "2", "type": ST + "Dense"}]))
    with pytest.raises(ModelError, match="ONNX backend does not run") as raised:
        onnx_model_file(tmp_path / "cache", folder, "fp32")
    assert "embedding.backend" in raised.value.hint
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.onnx"))


_ONNX_SESSION = """
import sys
import onnx
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
path = sys.argv[1] + "/identity.onnx"
onnx.save(model, path)
if sys.argv[2] == "ragcli":
    from ragcli.embedding.onnx_runtime import import_onnxruntime
    ort = import_onnxruntime()
else:
    import onnxruntime as ort
ort.InferenceSession(path, providers=["CPUExecutionProvider"])
"""


def test_onnx_runtime_is_loaded_with_its_telemetry_off(tmp_path):
    """onnxruntime's PyPI builds keep a device id and an event cache under $XDG_CACHE_HOME/Microsoft
    (and send the events to Microsoft) unless told not to before they start."""
    import subprocess
    import sys

    def session(how: str) -> list[str]:
        home = tmp_path / how
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
        subprocess.run([sys.executable, "-c", _ONNX_SESSION, str(home), how], env=env, check=True, timeout=120)
        return sorted(str(p.relative_to(home)) for p in home.rglob("*") if "Microsoft" in p.parts)

    # Whether the plain library writes them depends on the machine (the project's CI, for one, gets
    # none); where it writes none, there is nothing to compare and the test below still holds.
    if not session("plain"):
        pytest.skip("onnxruntime writes no telemetry files on this machine")
    assert session("ragcli") == []


_IMPORT_ORDER = """
import os, sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime":
            print("at-import", os.environ.get("ORT_DISABLE_TELEMETRY"))
        return None
sys.meta_path.insert(0, Watch())
from ragcli.embedding.onnx_runtime import import_onnxruntime
import_onnxruntime()
print("after", os.environ.get("ORT_DISABLE_TELEMETRY"))
"""


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("0", "0")])
def test_onnx_runtime_is_imported_after_its_telemetry_is_turned_off(given, seen):
    """The switch is read once when onnxruntime starts, so it must be set before the import; a
    value the user set is theirs to keep."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"} | ({"ORT_DISABLE_TELEMETRY": given} if given else {})
    shown = subprocess.run([sys.executable, "-c", _IMPORT_ORDER], env=env, check=True, timeout=120, capture_output=True, text=True).stdout.split()
    assert shown[:2] == ["at-import", seen] and shown[-2:] == ["after", seen]
