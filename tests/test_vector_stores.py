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
