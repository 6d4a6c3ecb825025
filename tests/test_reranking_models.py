"""The real second-stage models: the bundled all-mpnet-base-v2 and a local CrossEncoder folder."""

import dataclasses
import json

import pytest

from ragcli.config import load_settings
from ragcli.reranking import load_reranker
from ragcli.reranking.bi_encoder import BiEncoderReranker
from ragcli.errors import ModelNotInstalled
from ragcli.reranking.cross_encoder import CrossEncoderReranker

pytestmark = pytest.mark.slow

QUERY = "How do I overwrite a remote branch only if nobody else pushed to it?"
PASSAGES = [
    "Bake the bread at 220 degrees for forty minutes, until the crust is dark.",
    "git push --force-with-lease refuses to update a remote ref unless it still points at the commit you last fetched.",
]


def test_bundled_mpnet_prefers_the_relevant_passage_and_caches_vectors(tmp_path):
    # The model folder is assembled once into the user's cache, like the bundled generators.
    settings = load_settings(flags={"reranking.mode": "on"}, environ={})
    try:
        reranker = load_reranker(settings)
    except ModelNotInstalled:
        # An optional model, not installed by the default set-up.
        pytest.skip("all-mpnet-base-v2 is not installed: RAGCLI_EXTRA_MODELS=all-mpnet-base-v2 bash scripts/setup.sh")
    assert isinstance(reranker, BiEncoderReranker) and reranker.id == "sentence-transformers/all-mpnet-base-v2"
    scores = reranker.score(QUERY, PASSAGES)
    assert scores[1] > scores[0] + 0.2
    cached = dataclasses.replace(settings, cache_dir=str(tmp_path))
    first = BiEncoderReranker(settings.cache_path / "models" / "all-mpnet-base-v2", cached.reranking, tmp_path)
    assert first.score(QUERY, PASSAGES) == pytest.approx(scores, abs=1e-5)
    cache_files = list((tmp_path / "reranking").glob("*.sqlite3"))
    assert len(cache_files) == 1
    again = BiEncoderReranker(settings.cache_path / "models" / "all-mpnet-base-v2", cached.reranking, tmp_path)
    again._encode = lambda texts: pytest.fail("passages were re-encoded") if len(texts) > 1 else BiEncoderReranker._encode(again, texts)
    assert again.score(QUERY, PASSAGES) == pytest.approx(scores, abs=1e-5)


def test_a_local_cross_encoder_folder_is_loaded_and_scores_pairs(tmp_path):
    """A tiny, randomly initialised BERT classifier saved as a folder stands in for a user's CrossEncoder."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path / "tiny-cross-encoder"
    folder.mkdir()
    words = sorted({w.strip("?.,").lower() for text in [QUERY, *PASSAGES] for w in text.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    config = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    settings = load_settings(flags={"reranking.mode": "on", "reranking.model": str(folder)}, environ={})
    reranker = load_reranker(settings)
    assert isinstance(reranker, CrossEncoderReranker) and reranker.id.startswith("cross-encoder:tiny-cross-encoder:")
    scores = reranker.score(QUERY, PASSAGES)
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    assert reranker.score(QUERY, PASSAGES) == pytest.approx(scores)
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]
