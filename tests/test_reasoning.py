from ragcli.answer.reasoning import ReasoningFilter

TEXT = "<think>The user wants X; passage 2 says --full-tree.</think>Use --full-tree [2]."


def run_filter(pieces):
    flt = ReasoningFilter()
    answer = thought = ""
    for piece in pieces:
        a, t = flt.feed(piece)
        answer, thought = answer + a, thought + t
    a, t = flt.finish()
    return answer + a, thought + t


def test_every_split_of_the_stream_gives_the_same_result():
    expected = ("Use --full-tree [2].", "The user wants X; passage 2 says --full-tree.")
    for cut in range(1, len(TEXT)):
        assert run_filter([TEXT[:cut], TEXT[cut:]]) == expected, cut
    assert run_filter(list(TEXT)) == expected


def test_text_that_only_looks_like_a_tag_start_is_released():
    assert run_filter(["a <b> c <", "thin", "g"]) == ("a <b> c <thing", "")


def test_unclosed_reasoning_stays_hidden():
    assert run_filter(["<think>still thinking"]) == ("", "still thinking")
    assert run_filter(["no tags at all"]) == ("no tags at all", "")
