"""Context packing: numbered passages, each text once, within the token budget."""

from ragcli.answer.prompt import INSTRUCTION, QUOTE_INSTRUCTION, build_prompt
from ragcli.records import Hit


def words(text):
    return len(text.split())


TEXT = (
    "Git has many commands. Most of them take options. "
    "The store helper saves credentials in ~/.git-credentials by default. "
    "The file is readable only by the user. Other helpers exist for macOS and Windows. "
    "Finally, caching helpers keep credentials in memory."
)


def test_build_prompt_keeps_passages_in_rank_order_within_the_budget():
    hits = [Hit(rank=n, score=1.0, path=f"/d/{n}.html", page=None, chunk_id=n, text=f"{TEXT} Page {n}.") for n in range(1, 6)]
    block = words(build_prompt("q", hits[:1], words, 1000).body) - words("Sources: Question: q")
    packed = build_prompt("Where does the store helper save credentials?", hits, words, 2 * block + 1)
    assert [hit.chunk_id for hit in packed.hits] == [1, 2]
    # A passage that does not fit is skipped, and a later, smaller one still gets in.
    small = Hit(rank=6, score=1.0, path="/d/6.html", page=None, chunk_id=6, text="Short.")
    assert [hit.chunk_id for hit in build_prompt("q", [*hits, small], words, 2 * block + 12).hits] == [1, 2, 6]


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
