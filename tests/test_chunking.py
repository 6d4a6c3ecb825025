import re

from ragcli.chunking import ChunkingPlan, chunk_sections, context_line, split_units
from ragcli.records import Section


def count(texts):
    return [len(re.findall(r"\S+", t)) for t in texts]


PLAN = ChunkingPlan(max_tokens=20, overlap_tokens=5, window=40)


def test_chunks_fit_the_budget_and_keep_every_word():
    text = "\n\n".join(" ".join(f"w{p}_{i}" for i in range(13)) + "." for p in range(8))
    chunks = chunk_sections([Section(text=text, page=3, headings=("A", "B"))], "Doc", count, PLAN)
    assert len(chunks) > 1
    for chunk in chunks:
        assert count([chunk.embedding_text])[0] <= PLAN.window
        assert count([chunk.text])[0] <= PLAN.max_tokens
        assert chunk.page == 3 and chunk.headings == ("A", "B") and chunk.context == "Doc > A > B"
    words = set(text.split())
    assert words == set(" ".join(c.text for c in chunks).split())
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_long_sentence_splits_between_words_never_inside():
    sentence = " ".join(f"word{i}" for i in range(100))
    units = split_units(sentence, count, 15)
    assert all(count([u])[0] <= 15 for u, _ in units)
    assert " ".join(u for u, _ in units) == sentence


def test_giant_token_is_cut_into_slices_that_fit():
    blob = "x" * 1000

    def chars(texts):
        return [len(t) // 10 + 1 for t in texts]

    units = split_units(blob, chars, 20)
    assert "".join(u for u, _ in units) == blob
    assert all(chars([u])[0] <= 20 for u, _ in units)


def test_overlap_repeats_whole_sentences_only():
    sentences = [f"Sentence number {i} has six words." for i in range(10)]
    chunks = chunk_sections([Section(text=" ".join(sentences))], "", count, ChunkingPlan(18, 6, 64))
    assert len(chunks) >= 3
    for earlier, later in zip(chunks, chunks[1:]):
        first_of_later = later.text.split("\n")[0]
        assert first_of_later in sentences
        assert first_of_later in earlier.text.split("\n")  # one sentence carried over


def test_sections_never_merge_so_pages_stay_exact():
    sections = [Section(text="alpha beta.", page=1), Section(text="gamma delta.", page=2)]
    chunks = chunk_sections(sections, "T", count, PLAN)
    assert [(c.page, c.text) for c in chunks] == [(1, "alpha beta."), (2, "gamma delta.")]


def test_runaway_heading_path_is_dropped_from_context():
    headings = tuple("h" for _ in range(50))
    chunks = chunk_sections([Section(text="body text", headings=headings)], "T", count, PLAN)
    assert chunks[0].context == ""


def test_context_line_skips_heading_equal_to_title():
    assert context_line("Guide", ("Guide", "Install")) == "Guide > Install"
