"""The Reranker seam: the fake, mode handling, and the second stage in search."""

import dataclasses

import pytest

from ragcli.config import load_settings
from ragcli.errors import ConfigError, ModelError, ModelNotInstalled
from ragcli.ingest import ingest
from ragcli.models import packaged
from ragcli.reranking import load_reranker
from ragcli.reranking.overlap import OverlapReranker
from ragcli.retrieval.scope import Scope
from ragcli.retrieval.searcher import Searcher


def with_reranking(settings, **values):
    return dataclasses.replace(settings, reranking=dataclasses.replace(settings.reranking, **values))


def test_overlap_fake_scores_shared_words():
    scores = OverlapReranker().score("export control EAR99", ["EAR99 export control", "control", "nothing"])
    assert scores[0] == 1.0 and 0 < scores[1] < 1 and scores[2] == 0.0


def test_modes(settings, monkeypatch):
    assert load_reranker(with_reranking(settings, mode="off")) is None
    assert isinstance(load_reranker(with_reranking(settings, mode="on", model="overlap")), OverlapReranker)

    def not_installed(model):
        raise ModelNotInstalled("bundled model x is not installed", hint=model.install)

    # auto runs the second stage only on a GPU device, and only when it is installed.
    assert load_reranker(with_reranking(settings, mode="auto", model="overlap", device="cpu")) is None
    assert isinstance(load_reranker(with_reranking(settings, mode="auto", model="overlap", device="cuda")), OverlapReranker)
    monkeypatch.setattr(packaged, "locate", not_installed)
    assert load_reranker(with_reranking(settings, mode="auto", device="cuda")) is None
    with pytest.raises(ModelError, match="not installed") as error:
        load_reranker(with_reranking(settings, mode="on"))
    assert "--no-deps" in error.value.hint
    with pytest.raises(ModelError, match="neither a bundled model"):
        load_reranker(with_reranking(settings, mode="on", model="/no/such/folder"))


def test_bad_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="reranking.mode"):
        load_settings(environ={"RAG_RERANKING_MODE": "sometimes"})


class Reversed:
    """A second stage that prefers what the first stage ranked last, to make its effect visible."""

    id = "reversed"

    def __init__(self):
        self.calls = []

    def score(self, query, passages):
        self.calls.append(len(passages))
        return [float(i) for i in range(len(passages))]


def test_second_stage_reorders_only_the_configured_candidates(settings, docs):
    ingest(settings, [docs])
    settings = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, merge_adjacent=False))
    query = "EAR99 export control classification"
    with Searcher.open(settings, reranker=None) as plain:
        first = plain.search(query, k=5).hits
    weighted = with_reranking(settings, candidates=4, weight=5.0)
    reranker = Reversed()
    with Searcher.open(weighted, reranker=reranker) as searcher:
        second = searcher.search(query, k=5).hits
    assert reranker.calls == [4]
    assert [h.chunk_id for h in second[:4]] == [h.chunk_id for h in first[:4]][::-1]
    assert second[4].chunk_id == first[4].chunk_id
    assert [h.rank for h in second] == [1, 2, 3, 4, 5]


def test_search_scope_filters_inside_both_retrievers(settings, docs):
    ingest(settings, [docs])
    settings = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, merge_adjacent=False))
    with Searcher.open(settings, reranker=None) as searcher:
        pdf_only = searcher.search("export control classification", k=6, scope=Scope(types=("pdf",))).hits
        assert len(pdf_only) == 6 and {h.path for h in pdf_only} <= {str(docs / "zlib-faq.pdf"), str(docs / "shared-mime-info-spec.pdf")}
        # An identifier only one document has, searched where it is absent: the scope wins, k still come back.
        html = searcher.search("EAR99", k=4, scope=Scope(paths=("*.html",))).hits
        assert len(html) == 4 and all(h.path.endswith(".html") for h in html)
        # One document in scope: as many passages as one document may give.
        md = searcher.search("EAR99", k=5, scope=Scope(paths=(str(docs / "nodejs-intl.md"),))).hits
        assert len(md) == settings.retrieval.max_per_page and {h.path for h in md} == {str(docs / "nodejs-intl.md")}
        assert searcher.search("EAR99", scope=Scope(types=("txt",))).hits == []


def test_scope_from_settings_applies_to_every_search(settings, docs):
    ingest(settings, [docs])
    scoped = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, types=("md",)))
    with Searcher.open(scoped, reranker=None) as searcher:
        assert {h.path for h in searcher.search("build").hits} == {str(docs / "nodejs-intl.md")}


def test_adjacent_hits_come_back_merged_and_neighbours_widen_passages(settings, docs):
    ingest(settings, [docs])
    query = "ninja build manual rules variables"
    with Searcher.open(settings, reranker=None) as searcher:
        merged = searcher.search(query, k=8).hits
    assert all(h.chunk_ids and h.chunk_id in h.chunk_ids for h in merged)
    assert any(len(h.chunk_ids) > 1 for h in merged)
    for hit in merged:
        assert hit.chunk_ids == tuple(sorted(hit.chunk_ids))
    wide = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, neighbours=1, merge_adjacent=False))
    with Searcher.open(wide, reranker=None) as searcher:
        hits = searcher.search(query, k=3).hits
    with Searcher.open(dataclasses.replace(wide, retrieval=dataclasses.replace(wide.retrieval, neighbours=0)), reranker=None) as searcher:
        narrow = searcher.search(query, k=3).hits
    for w, n in zip(hits, narrow):
        assert w.chunk_id == n.chunk_id and set(n.chunk_ids) <= set(w.chunk_ids)
        assert n.text in w.text
    assert any(len(w.chunk_ids) > 1 for w in hits)


def test_configured_overlap_reranker_runs_through_search(settings, docs):
    ingest(settings, [docs])
    settings = with_reranking(settings, mode="on", model="overlap")
    with Searcher.open(settings) as searcher:
        assert isinstance(searcher.reranker, OverlapReranker)
        hits = searcher.search("EAR99 export control classification", k=3).hits
    assert (hits[0].path, hits[0].page) == (str(docs / "zlib-faq.pdf"), 6)
