"""Contract tests every VectorStore must pass."""

import numpy as np
import pytest

from ragcli.store.vectors import VECTOR_STORES, make_vector_store, vector_file


def random_unit_vectors(n, d, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", sorted(VECTOR_STORES))
def test_exact_search_save_and_load(backend, tmp_path):
    vectors = random_unit_vectors(300, 32)
    ids = np.arange(1000, 1300, dtype=np.int64)
    store = make_vector_store(backend, 32)
    assert store.search(vectors[0], 5) == []
    store.build(ids, vectors)
    query = vectors[42]
    results = store.search(query, 5)
    assert results[0][0] == 1042 and results[0][1] == pytest.approx(1.0, abs=1e-5)
    expected = ids[np.argsort(-(vectors @ query))[:5]]
    assert [i for i, _ in results] == list(expected)
    assert all(a[1] >= b[1] for a, b in zip(results, results[1:]))
    path = vector_file(tmp_path, backend)
    store.save(path)
    reloaded = make_vector_store(backend, 32)
    reloaded.load(path)
    reloaded_results = reloaded.search(query, 5)
    assert [i for i, _ in reloaded_results] == [i for i, _ in results]
    assert [s for _, s in reloaded_results] == pytest.approx([s for _, s in results])
    assert len(store.search(query, 1000)) == 300


def clustered_unit_vectors(n, d, centres, noise, seed=0):
    """Unit vectors around random centres: the shape of text embeddings, where ANN search has structure to use."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, d)).astype(np.float32)
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    rows = middle[rng.integers(0, centres, size=n)] + rng.normal(scale=noise / np.sqrt(d), size=(n, d)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def recall_at_10(store, vectors, ids, queries):
    found = 0
    for query in queries:
        exact = set(ids[np.argsort(-(vectors @ query))[:10]].tolist())
        found += len(exact & {i for i, _ in store.search(query, 10)})
    return found / (10 * len(queries))


def test_faiss_uses_ivf_sq8_from_the_threshold_on_with_recall_checked_against_exact(tmp_path, monkeypatch):
    from ragcli.config import IndexSettings
    from ragcli.store import vectors as vectors_module

    # Queries come from the same clusters but are not in the collection.
    everything = clustered_unit_vectors(12_050, 48, centres=120, noise=0.6)
    data, queries = everything[:12_000], everything[12_000:]
    ids = np.arange(5_000, 17_000, dtype=np.int64)

    small = make_vector_store("faiss", 48, IndexSettings(ann_threshold=20_000))
    small.build(ids, data)
    assert small.layout == "flat"

    store = make_vector_store("faiss", 48, IndexSettings(ann_threshold=10_000, nprobe=8))
    store.build(ids, data)
    assert store.layout.startswith("ivf") and store.layout.endswith("-sq8") and len(store) == 12_000
    assert recall_at_10(store, data, ids, queries) >= 0.9

    # Saved with write_index; read back memory-mapped (forced here by lowering the size limit).
    monkeypatch.setattr(vectors_module, "_MMAP_FROM_BYTES", 0)
    path = vector_file(tmp_path, "faiss")
    store.save(path)
    mapped = make_vector_store("faiss", 48, IndexSettings(ann_threshold=10_000, nprobe=8, mmap=True))
    mapped.load(path)
    assert mapped.layout == store.layout and len(mapped) == 12_000
    assert [i for i, _ in mapped.search(queries[0], 10)] == [i for i, _ in store.search(queries[0], 10)]
    wider = make_vector_store("faiss", 48, IndexSettings(nprobe=10_000, mmap=True))
    wider.load(path)
    assert recall_at_10(wider, data, ids, queries) >= recall_at_10(mapped, data, ids, queries) >= 0.9


def test_an_index_above_the_threshold_is_searched_through_ivf_end_to_end(settings, docs):
    import dataclasses

    from ragcli.ingest import ingest
    from ragcli.retrieval.searcher import search
    from ragcli.store.index import Index

    ingest(settings, [docs])
    exact = search(settings, "ninja build rules", 5)
    approximate = dataclasses.replace(settings, index=dataclasses.replace(settings.index, ann_threshold=50, dir=settings.index.dir + "-ivf"))
    ingest(approximate, [docs])
    index = Index.open_for_reading(approximate)
    try:
        assert index.vector_store().layout.startswith("ivf")
    finally:
        index.close()
    # A handful of cells, all visited by the default nprobe: same hits as exact search.
    assert [(h.path, h.page) for h in search(approximate, "ninja build rules", 5).hits] == [(h.path, h.page) for h in exact.hits]
