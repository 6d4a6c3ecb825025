"""Context packing: passages cut to the part nearest the question, within the token budget."""

from ragcli.prompting import INSTRUCTION, QUOTE_INSTRUCTION, build_prompt, focus
from ragcli.records import Hit


def words(text):
    return len(text.split())


TEXT = (
    "Git has many commands. Most of them take options. "
    "The store helper saves credentials in ~/.git-credentials by default. "
    "The file is readable only by the user. Other helpers exist for macOS and Windows. "
    "Finally, caching helpers keep credentials in memory."
)


def test_focus_keeps_the_sentence_that_answers_and_its_neighbours():
    cut = focus(TEXT, "Where does the store helper save credentials?", words, 20)
    assert "~/.git-credentials" in cut and words(cut) <= 22
    assert cut.startswith("… ") and cut.endswith(" …")
    assert "Finally" not in cut


def test_focus_leaves_short_passages_and_zero_limits_alone():
    assert focus(TEXT, "anything", words, 0) == TEXT
    assert focus(TEXT, "anything", words, 1000) == TEXT


def test_build_prompt_cuts_each_passage_and_packs_within_budget():
    hits = [Hit(rank=n, score=1.0, path=f"/d/{n}.html", page=None, chunk_id=n, text=f"{TEXT} Page {n}.") for n in range(1, 6)]
    whole = build_prompt("Where does the store helper save credentials?", hits, words, 120)
    cut = build_prompt("Where does the store helper save credentials?", hits, words, 120, passage_tokens=20)
    assert len(cut.hits) > len(whole.hits)
    assert all("~/.git-credentials" in hit.text for hit in cut.hits)
    assert sum(words(h.text) for h in cut.hits) <= 120


def test_text_repeated_by_several_pages_is_given_once():
    # git-merge.html and git-pull.html both include the merge strategies; the second copy would
    # take the place of other evidence.
    shared = Hit(rank=1, score=1.0, path="/d/git-merge.html", page=None, chunk_id=1, text=TEXT)
    again = Hit(rank=2, score=0.9, path="/d/git-pull.html", page=None, chunk_id=2, text=TEXT.replace(". ", ".\n  "))
    other = Hit(rank=3, score=0.8, path="/d/other.html", page=None, chunk_id=3, text="Octopus resolves more than two heads.")
    packed = build_prompt("Which strategy merges many heads?", [shared, again, other], words, 1000)
    assert [hit.chunk_id for hit in packed.hits] == [1, 3]
    assert packed.messages[1]["content"].count("~/.git-credentials") == 1
    assert '<source id="2" file="other.html">' in packed.messages[1]["content"]


def test_a_prompt_can_be_asked_again_with_another_instruction():
    hit = Hit(rank=1, score=1.0, path="/d/git-credential-store.html", page=None, chunk_id=1, text="Credentials go to ~/.git-credentials.")
    packed = build_prompt("Where are credentials stored?", [hit], words, 1000)
    again = packed.asking(QUOTE_INSTRUCTION)
    assert again[0] == packed.messages[0] and packed.messages[1]["content"].endswith(INSTRUCTION)
    assert again[1]["content"] == packed.messages[1]["content"].removesuffix(INSTRUCTION) + QUOTE_INSTRUCTION
