"""Hybrid search: dense vectors (FAISS) and BM25 (SQLite FTS5), fused by reciprocal rank."""

from __future__ import annotations

from ragcli.config import Settings
from ragcli.embedding import Embedder, load_embedder
from ragcli.records import Hit, SearchResult
from ragcli.retrieval.fusion import cap_per_group, reciprocal_rank_fusion
from ragcli.store.index import Index


class Searcher:
    """An open index plus its embedder, loaded once and reused across queries."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder) -> None:
        index.check_embedder(embedder.id)
        self.settings = settings
        self.index = index
        self.embedder = embedder

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> "Searcher":
        index = Index.open_for_reading(settings)
        try:
            return cls(settings, index, embedder or load_embedder(settings.embedding, settings.cache_path))
        except BaseException:
            index.close()
            raise

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def search(self, query: str, k: int | None = None) -> SearchResult:
        options = self.settings.retrieval
        k = k or options.k
        pool = max(options.candidates, k * 4)
        query_vector = self.embedder.embed([query])[0]
        dense = self.index.vector_store().search(query_vector, pool)
        similarity = dict(dense)
        rankings = [(options.dense_weight, [chunk_id for chunk_id, _ in dense])]
        if options.lexical:
            lexical = self.index.catalog.lexical_search(query, pool)
            rankings.append((options.lexical_weight, [chunk_id for chunk_id, _ in lexical]))
        fused = reciprocal_rank_fusion(rankings, options.rrf_k)
        stored = self.index.catalog.chunks([chunk_id for chunk_id, _ in fused])
        fused = [(chunk_id, score) for chunk_id, score in fused if chunk_id in stored]
        keep = cap_per_group(((cid, (stored[cid].path, stored[cid].page)) for cid, _ in fused), options.max_per_page)[:k]
        scores = dict(fused)
        hits = []
        for rank, chunk_id in enumerate(keep, start=1):
            chunk = stored[chunk_id]
            hits.append(
                Hit(
                    rank=rank, score=scores[chunk_id], path=chunk.path, page=chunk.page, chunk_id=chunk_id,
                    text=chunk.text, title=chunk.title, headings=chunk.headings,
                    similarity=similarity.get(chunk_id),
                )
            )
        return SearchResult(query=query, hits=hits)


def search(settings: Settings, query: str, k: int | None = None) -> SearchResult:
    """One-shot search: open the index and embedder, query, close."""
    with Searcher.open(settings) as searcher:
        return searcher.search(query, k)
