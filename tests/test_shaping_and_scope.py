"""Pure retrieval logic: passage shaping, second-stage blending, search scope, lexical queries."""

import pytest

from ragcli.retrieval.fusion import blend_second_stage
from ragcli.retrieval.scope import Scope
from ragcli.retrieval.shaping import ChunkPlace, fill_short, join_texts, shape_passages, widen
from ragcli.retrieval.query import lexical_query


def place(chunk_id, document_id=1, page=None, ordinal=None):
    return ChunkPlace(chunk_id, document_id, page, chunk_id if ordinal is None else ordinal)


def test_adjacent_hits_merge_into_one_passage_at_the_better_rank():
    ranked = [place(5), place(9), place(6), place(4, document_id=2), place(20)]
    passages = shape_passages(ranked, k=3, max_per_page=5)
    assert [p.chunk_ids for p in passages] == [[5, 6], [9], [4]]
    assert passages[0].lead.chunk_id == 5


def test_merging_never_crosses_a_page_or_a_document():
    ranked = [place(1, page=1), place(2, page=2), place(3, document_id=2, ordinal=2)]
    assert [p.chunk_ids for p in shape_passages(ranked, k=5, max_per_page=5)] == [[1], [2], [3]]


def test_merging_can_be_switched_off_and_pages_are_capped():
    ranked = [place(1, page=1), place(2, page=1), place(3, page=1), place(10, page=2)]
    assert [p.chunk_ids for p in shape_passages(ranked, k=5, max_per_page=2, merge_adjacent=False)] == [[1], [2], [10]]
    # Merged, the three adjacent chunks use one of the page's two slots.
    assert [p.chunk_ids for p in shape_passages(ranked, k=5, max_per_page=2)] == [[1, 2, 3], [10]]


def test_a_full_result_still_absorbs_adjacent_chunks():
    ranked = [place(1), place(10), place(2), place(30)]
    assert [p.chunk_ids for p in shape_passages(ranked, k=2, max_per_page=5)] == [[1, 2], [10]]


def test_join_texts_drops_the_lines_repeated_by_chunk_overlap():
    assert join_texts(["a\nb\nc", "b\nc\nd", "e"]) == "a\nb\nc\nd\ne"
    assert join_texts(["x\ny", "y"]) == "x\ny\ny"  # a chunk is never swallowed whole


def test_widen_adds_neighbours_on_the_same_page_only():
    passage = shape_passages([place(11, page=3, ordinal=5)], k=1, max_per_page=1)[0]
    layout = {3: (9, 2), 4: (10, 3), 5: (11, 3), 6: (12, 3), 7: (13, 3), 8: (14, 4)}

    def neighbours(document_id, low, high):
        return {o: v for o, v in layout.items() if low <= o <= high}

    assert widen(passage, 0, neighbours) == [11]
    assert widen(passage, 1, neighbours) == [10, 11, 12]
    assert widen(passage, 5, neighbours) == [10, 11, 12, 13]


def test_a_short_passage_continues_on_its_page_until_long_enough():
    sizes = {10: 60, 11: 50, 12: 400, 13: 400, 14: 900}
    following = [(11, 3), (12, 3), (13, 3)]
    assert fill_short([10], 3, sizes.get, following, 200) == [10, 11, 12]
    assert fill_short([10], 3, sizes.get, following, 0) == [10]
    assert fill_short([14], 3, sizes.get, following, 200) == [14]
    # Never onto the next page: the citation names one page.
    assert fill_short([10], 3, sizes.get, [(11, 3), (12, 4)], 200) == [10, 11]
    assert fill_short([10], 3, sizes.get, [], 200) == [10]


def test_blend_moves_candidates_by_the_second_stage_and_keeps_the_rest_below():
    fused = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    blended = blend_second_stage(fused, {1: 0.1, 2: 0.2, 3: 0.9}, weight=2.0, rrf_k=60)
    assert [cid for cid, _ in blended] == [3, 2, 1, 4]
    # Equal weights and mirrored ranks tie; the first stage breaks the tie.
    assert [cid for cid, _ in blend_second_stage(fused, {1: 0.1, 2: 0.2, 3: 0.9}, 1.0, 60)] == [1, 3, 2, 4]
    scores = [s for _, s in blended]
    assert scores == sorted(scores, reverse=True)
    # Weight 0: the first stage's order stands.
    assert [cid for cid, _ in blend_second_stage(fused, {1: 0.1, 2: 0.2, 3: 0.9}, 0.0, 60)] == [1, 2, 3, 4]
    # A heavy second stage puts its favourite first.
    assert blend_second_stage(fused, {1: 0.1, 2: 0.2, 3: 0.9}, 10.0, 60)[0][0] == 3


@pytest.mark.parametrize(
    "globs, path, admitted",
    [
        (["*.pdf"], "/docs/a/manual.pdf", True),
        (["*.pdf"], "/docs/a/manual.html", False),
        (["git-*.html"], "/docs/git-log.html", True),
        (["git-*.html"], "/docs/git-x/log.html", False),  # '*' stays inside one folder
        (["howto/*.html"], "/usr/share/doc/git/howto/rebase.html", True),
        (["/usr/share/doc/git"], "/usr/share/doc/git/howto/rebase.html", True),  # a folder takes what is under it
        (["/usr/share/doc/git"], "/usr/share/doc/gitk/x.html", False),
        (["/usr/**/rebase.html"], "/usr/share/doc/git/howto/rebase.html", True),
        (["[!g]*.html"], "/d/git.html", False),
        (["*.md", "*.pdf"], "/d/x.md", True),
    ],
)
def test_path_globs(globs, path, admitted):
    assert Scope(paths=tuple(globs)).admits(path, "html") is admitted


def test_relative_globs_are_resolved_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope = Scope(paths=("./docs",))
    assert scope.admits(str(tmp_path / "docs" / "a.md"), "md")
    assert not scope.admits("/elsewhere/docs/a.md", "md")


def test_types_and_paths_combine():
    scope = Scope(paths=("*.pdf", "*.html"), types=("pdf",))
    assert scope.select([(1, "/a.pdf", "pdf"), (2, "/b.html", "html"), (3, "/c.md", "md")]) == [1]
    assert Scope().everything and not scope.everything


def test_identifiers_are_searched_as_exact_phrases_too():
    query = lexical_query("How do I use git push --force-with-lease safely?")
    assert query.startswith('"force with lease" OR ')
    assert '"lease"' in query and '"how"' not in query
    assert lexical_query("what is autovacuum_naptime") == '"autovacuum_naptime"'
    assert '"40001"' in lexical_query("error 40001 serialization failure")
