"""Hybrid search: dense vectors (FAISS) and BM25 (SQLite FTS5) fused by reciprocal rank,
optionally re-ranked by a second stage, then shaped into passages."""

from __future__ import annotations

import dataclasses
import itertools
import threading

from ragcli.config import Settings
from ragcli.embedding import Embedder, load_embedder
from ragcli.records import Hit, SearchResult
from ragcli.reranking import Reranker, load_reranker
from ragcli.retrieval.fusion import blend_second_stage, cap_per_group, reciprocal_rank_fusion
from ragcli.retrieval.query import cjk_query, lexical_query, require_text, unknown_terms
from ragcli.retrieval.scope import Scope
from ragcli.retrieval.shaping import ChunkPlace, Passage, fill_short, join_texts, shape_passages, widen
from ragcli.store.catalog import StoredChunk
from ragcli.store.catalog.fulltext import GRAMS
from ragcli.store.index import Index
from ragcli.vocabulary import IDENTIFIER

_CONFIGURED = object()
# Chunks looked at after a short passage; titles and synopses are followed by their text within a few.
_FILL_LOOKAHEAD = 4


def _as_recorded(settings: Settings, index: Index) -> Settings:
    """``settings`` with the embedder the index was built with: a query must be embedded as its
    chunks were, whatever the environment or config says now (only writing with another one is refused)."""
    recorded = index.catalog.get_meta("embedding_model")
    vectors = index.catalog.get_meta("embedding_vectors")
    if recorded and isinstance(vectors, dict):
        wanted = {key: vectors[key] for key in ("backend", "precision", "read_tokens") if key in vectors}
        if wanted.get("backend") in ("onnx", "torch") and wanted.get("precision") == "fp32" and settings.embedding.backend in ("onnx", "torch"):
            del wanted["backend"]  # fp32 ONNX and torch give the same vectors: keep the one configured
        return dataclasses.replace(settings, embedding=dataclasses.replace(settings.embedding, model=recorded, **wanted))
    # An index from before the vector settings were recorded: its id says fp32 or int8.
    int8 = "+onnx-int8" in str(index.identity.get("embedder", ""))
    now_int8 = settings.embedding.backend == "onnx" and settings.embedding.precision == "int8"
    if not recorded or (recorded == settings.embedding.model and int8 == now_int8):
        return settings
    precision = {"backend": "onnx", "precision": "int8"} if int8 else ({"precision": "fp32"} if now_int8 else {})
    return dataclasses.replace(settings, embedding=dataclasses.replace(settings.embedding, model=recorded, **precision))


class Searcher:
    """An open index plus its embedder (and second stage), loaded once and reused across queries."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder, reranker: Reranker | None = None) -> None:
        index.check_embedder(embedder.id)
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.reranker = reranker
        self.scope = Scope.from_settings(settings.retrieval)
        # One searcher may serve several threads (rag serve): the catalog connection and the vector
        # index are used by one search at a time.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, reranker=_CONFIGURED) -> "Searcher":
        """Open the index and load the models; ``reranker`` defaults to the configured second stage."""
        index = Index.open_for_reading(settings)
        try:
            embedder = embedder or load_embedder(_as_recorded(settings, index))
            if reranker is _CONFIGURED:
                reranker = load_reranker(settings)
            return cls(settings, index, embedder, reranker)
        except BaseException:
            index.close()
            raise

    def close(self) -> None:
        with self._lock:  # never beneath a search another thread runs
            self.index.close()

    def __enter__(self) -> "Searcher":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _dense(self, query_vector, pool: int, document_ids: list[int] | None) -> list[tuple[int, float]]:
        store = self.index.vector_store()
        if document_ids is None:
            return store.search(query_vector, pool)
        allowed = self.index.catalog.chunks.ids_of(document_ids)
        if not allowed:
            return []
        # Exact under a filter: the best allowed chunks of a deeper ranking are the best allowed overall.
        # Start as deep as the filter's share of the index suggests, and deepen until enough are found.
        depth = min(len(store), max(pool, pool * len(store) // len(allowed) * 2))
        while True:
            kept = [(chunk_id, score) for chunk_id, score in store.search(query_vector, depth) if chunk_id in allowed]
            if len(kept) >= pool or depth >= len(store):
                return kept[:pool]
            depth = min(len(store), depth * 4)

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """The ``terms`` that no indexed chunk contains (what the evidence gate asks)."""
        with self._lock:
            return unknown_terms(terms, self.index.catalog.fulltext.has_phrase)

    def _follow(self) -> None:
        """A searcher that lives long (rag serve, rag chat) reads the index as the last writer left
        it: a rebuild's swapped-in index is opened; a commit's new chunks are loaded on use."""
        if not self.index.replaced():
            return
        index = Index.open_for_reading(self.settings)
        try:
            index.check_embedder(self.embedder.id)
        except BaseException:
            index.close()
            raise
        self.index.close()
        self.index = index

    def search(
        self, query: str, k: int | None = None, scope: Scope | None = None, *, merge_adjacent: bool | None = None
    ) -> SearchResult:
        """The ``k`` best passages for ``query`` within ``scope`` (default: the configured paths and types);
        ``merge_adjacent`` overrides ``retrieval.merge_adjacent`` for this search."""
        require_text(query)
        with self._lock:
            self._follow()
            self.index.vector_store()  # loaded (again, after a commit) before the reads below
            # Every catalog read of one search sees one committed state.
            with self.index.catalog.snapshot():
                return self._search(query, k, scope, merge_adjacent)

    def _search(self, query: str, k: int | None, scope: Scope | None, merge_adjacent: bool | None) -> SearchResult:
        options = self.settings.retrieval
        k = k or options.k
        merge = options.merge_adjacent if merge_adjacent is None else merge_adjacent
        scope = self.scope if scope is None else scope
        catalog = self.index.catalog
        document_ids = None if scope.everything else scope.select(catalog.documents.kinds_by_id())
        if document_ids is not None and not document_ids:
            return SearchResult(query=query, hits=[])
        pool = max(options.candidates, k * 4)
        query_vector = self.embedder.embed([query])[0]
        dense = self._dense(query_vector, pool, document_ids)
        similarity = dict(dense)
        rankings = [(options.dense_weight, [chunk_id for chunk_id, _ in dense])]
        if options.lexical:
            lexical = catalog.fulltext.search(lexical_query(query), pool, document_ids, options.heading_weight)
            rankings.append((options.lexical_weight, [chunk_id for chunk_id, _ in lexical]))
            cjk = cjk_query(query)
            if cjk:  # Chinese, Japanese or Korean words: the character-pair index finds them
                grams = catalog.fulltext.search(cjk, pool, document_ids, options.heading_weight, table=GRAMS)
                rankings.append((options.lexical_weight, [chunk_id for chunk_id, _ in grams]))
        fused = reciprocal_rank_fusion(rankings, options.rrf_k)
        stored = catalog.chunks.get([chunk_id for chunk_id, _ in fused])
        fused = [(chunk_id, score) for chunk_id, score in fused if chunk_id in stored]
        if self.reranker is not None and fused:
            fused = self._second_stage(query, fused, stored)
        scores = dict(fused)
        places = [ChunkPlace(cid, stored[cid].document_id, stored[cid].page, stored[cid].ordinal) for cid, _ in fused]
        passages = shape_passages(places, k, options.max_per_page, merge)
        members = {passage.lead.chunk_id: widen(passage, options.neighbours, catalog.chunks.neighbour_ids) for passage in passages}
        missing = [cid for ids in members.values() for cid in ids if cid not in stored]
        if missing:
            stored.update(catalog.chunks.get(missing))
        if options.min_passage_chars:
            taken = {cid for ids in members.values() for cid in ids}
            for passage in passages:
                filled = self._filled(members[passage.lead.chunk_id], passage, stored, taken)
                taken.update(filled)
                members[passage.lead.chunk_id] = filled
        hits = []
        for rank, passage in enumerate(passages, start=1):
            lead = stored[passage.lead.chunk_id]
            ids = [cid for cid in members[lead.id] if cid in stored]
            similarities = [similarity[cid] for cid in passage.chunk_ids if cid in similarity]
            hits.append(
                Hit(
                    rank=rank, score=scores[lead.id], path=lead.path, page=lead.page, chunk_id=lead.id,
                    text=join_texts([stored[cid].text for cid in ids]), title=lead.title, headings=lead.headings,
                    similarity=max(similarities) if similarities else None, chunk_ids=tuple(ids),
                )
            )
        return SearchResult(query=query, hits=hits, notes=self._absent_identifiers(query) if hits else [])

    def _absent_identifiers(self, query: str) -> list[str]:
        """A note for each identifier of the query (``--force-with-lease``, ``autovacuum_naptime``)
        that no chunk holds whole: the hits then only share its parts, and a reader should know."""
        return [
            f"{term!r} occurs in no indexed document; the passages match parts of it"
            for term in self.unknown_terms(list(dict.fromkeys(IDENTIFIER.findall(query))))
        ]

    def _filled(self, ids: list[int], passage: Passage, stored: dict[int, StoredChunk], taken: set[int]) -> list[int]:
        """A short passage continued on its page (``retrieval.min_passage_chars``) up to the next chunk
        that another passage already shows; ``stored`` gains the added chunks."""
        wanted = self.settings.retrieval.min_passage_chars
        if sum(len(stored[cid].text) for cid in ids if cid in stored) >= wanted:
            return ids
        last = max(stored[cid].ordinal for cid in ids if cid in stored)
        found = self.index.catalog.chunks.neighbour_ids(passage.document_id, last + 1, last + _FILL_LOOKAHEAD)
        following = []
        for ordinal in range(last + 1, last + _FILL_LOOKAHEAD + 1):
            if ordinal not in found or found[ordinal][0] in taken:
                break
            following.append(found[ordinal])
        missing = [cid for cid, _ in following if cid not in stored]
        if missing:
            stored.update(self.index.catalog.chunks.get(missing))
        # A chunk gone since the search (a concurrent ingest) ends the run: the passage stays contiguous.
        following = list(itertools.takewhile(lambda place: place[0] in stored, following))
        return fill_short(ids, passage.page, lambda cid: len(stored[cid].text), following, wanted)

    def _second_stage(self, query: str, fused: list[tuple[int, float]], stored: dict[int, StoredChunk]) -> list[tuple[int, float]]:
        options = self.settings.reranking
        # Candidates are taken page-diverse: a second chunk of a page rarely changes which pages come back.
        page_of = ((cid, (stored[cid].path, stored[cid].page)) for cid, _ in fused)
        candidates = cap_per_group(page_of, self.settings.retrieval.max_per_page)[: options.candidates]
        # The second stage reads what the embedder read: the chunk with its title/heading line.
        scores = self.reranker.score(query, [stored[cid].embedding_text for cid in candidates])
        return blend_second_stage(fused, dict(zip(candidates, scores)), options.weight, self.settings.retrieval.rrf_k)


def search(settings: Settings, query: str, k: int | None = None, scope: Scope | None = None) -> SearchResult:
    """One-shot search: open the index and models, query, close."""
    require_text(query)
    with Searcher.open(settings) as searcher:
        return searcher.search(query, k, scope)
