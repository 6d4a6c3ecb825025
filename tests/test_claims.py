"""The claim rules and the keep-or-abstain decision, through the public verify_draft()."""

from ragcli.answer.gate import spelled_out, unfamiliar_names
from ragcli.answer.verify import verify_draft
from ragcli.answer.verify.claims import terms
from ragcli.answer.verify.lexical import LexicalVerifier
from ragcli.vocabulary import question_terms, split_complete, split_sentences


def verify(answer, question, passages, threshold):
    return verify_draft(answer, question, passages, LexicalVerifier(threshold))


PASSAGES = [
    "The store helper saves credentials in ~/.git-credentials by default.",
    "Use --full-tree to list the whole tree regardless of the current directory.",
]


def test_terms_keep_identifiers_whole_and_add_their_pieces():
    found = terms("Use `--force-with-lease` or ~/.git-credentials, see dev.azure.com.")
    assert {"--force-with-lease", "force", "lease", "~/.git-credentials", "credential", "dev.azure.com"} <= found
    assert "use" not in found and "or" not in found


def test_supported_sentence_gets_the_right_citation():
    result = verify("It uses --full-tree to show everything.", "How do I list the whole tree?", PASSAGES, 0.6)
    assert [c.source for c in result.supported] == [2]
    # Shown numbers follow the order of citation: the first source cited is [1].
    assert result.text == "It uses --full-tree to show everything [1]." and result.numbering == {2: 1}
    assert result.order(2) == {2: 1, 1: 2}
    assert result.supported[0].evidence == ("Use --full-tree to list the whole tree regardless of the current directory.",)


def test_invented_identifier_is_unsupported():
    result = verify("Use the --gpg-sign option with dev.azure.com.", "How do I sign with Azure?", PASSAGES, 0.6)
    assert result.supported == [] and result.support_ratio == 0.0
    assert result.to_json()["unsupported"] == ["Use the --gpg-sign option with dev.azure.com."]


def test_restating_the_question_is_not_evidence():
    result = verify("It lists the whole tree.", "How do I make it list the whole tree?", PASSAGES, 0.6)
    assert result.informative == []


def test_model_citations_are_replaced_by_the_supporting_source():
    result = verify("Credentials go to ~/.git-credentials [2].", "Where?", PASSAGES, 0.6)
    assert result.text == "Credentials go to ~/.git-credentials [1]."


def test_quoted_literals_must_appear_verbatim():
    passages = ['The suffix "^{}" marks a dereferenced tag.']
    assert verify('Git appends "^{}" to them.', "Which suffix?", passages, 0.6).supported
    assert not verify('Git appends "~{}" to them.', "Which suffix?", passages, 0.6).supported


def test_streamed_text_splits_only_finished_sentences():
    done, rest = split_complete("First one. Second one. Thir")
    assert done == ["First one.", "Second one."] and rest == "Thir"
    assert split_complete("no boundary yet") == ([], "no boundary yet")
    assert split_sentences("A b.\nC d!") == ["A b.", "C d!"]
    # A sentence ends before a capital, a quote or code, not inside "e.g. the" or "v2.1 is".
    assert split_sentences("Use e.g. the flag. Then `git push`.") == ["Use e.g. the flag.", "Then `git push`."]
    assert split_sentences("Since v2.1 is out, upgrade.") == ["Since v2.1 is out, upgrade."]


def test_unfamiliar_names_are_capitalised_unknown_terms():
    question = "How do I push to GitLab or Bitbucket from git?"
    assert question_terms(question) == ["push", "GitLab", "Bitbucket", "git"]
    assert unfamiliar_names(question, ["GitLab", "push"]) == ["GitLab"]
    assert unfamiliar_names("Gitsign setup?", ["Gitsign"]) == []  # first word is capitalised anyway


def test_an_acronym_written_out_in_the_passages_is_not_unfamiliar():
    passages = ["Cumulative: this can be used to obtain a cumulative distribution\nfunction from data."]
    assert spelled_out("CDF", passages)
    assert spelled_out("CDF", ["a Cumulative-Distribution Function"])
    assert not spelled_out("CDF", ["cumulative sums of the data"])
    # Names that are not acronyms are never explained away by chance initials.
    assert not spelled_out("WebP", ["web pages"])
    assert not spelled_out("GitLab", ["git lab"])
    question = "Which smooth option plots an empirical CDF from GitLab data?"
    assert unfamiliar_names(question, ["CDF", "GitLab"], passages) == ["GitLab"]
    assert unfamiliar_names(question, ["CDF", "GitLab"]) == ["CDF", "GitLab"]



def test_one_invented_number_sinks_the_sentence():
    passages = ["Set http.postBuffer to 524288000 to allow large pushes; core.compression takes 0 to 9."]
    assert verify("Set http.postBuffer to 524288000.", "How?", passages, 0.6).supported
    assert not verify("Set http.postBuffer to 524288000 and core.compression to 7.", "How?", passages, 0.6).supported


def test_framing_words_are_not_claims_but_the_value_they_frame_is():
    question = "With git mergetool, which --tool value opens Neovim instead of Vim?"
    passage = "You can also use one of these variants:\n--tool=gvimdiff, to open gVim instead of Vim.\n--tool=nvimdiff, to open Neovim instead of Vim."
    answer = "The --tool=nvimdiff option opens Neovim instead of Vim."
    assert verify(answer, question, [passage], 0.6).checks[0].supported
    invented = "The --tool=neovim option opens Neovim instead of Vim."
    assert not verify(invented, question, [passage], 0.6).checks[0].supported


def test_a_command_line_in_backticks_is_checked_word_by_word_but_other_code_spans_verbatim():
    question = "Is there a git blame option that colours lines by age?"
    passage = "git-blame(1)\n--color-by-age\nColor line annotations depending on the age of the line."
    assert verify("Use `git blame --color-by-age`.", question, [passage], 0.6).checks[0].supported
    assert not verify("Use `git blame --color-by-date`.", question, [passage], 0.6).checks[0].supported
    # No option in it: a span such as a set command is a quotation and must be in the passage as written.
    assert not verify("Use `age blame`.", question, [passage], 0.6).checks[0].supported


def test_curly_quotes_in_a_passage_match_the_straight_ones_an_answer_types():
    passage = "On systems with fdopen(), to read from file descriptor n use \u2019<&n\u2019."
    question = "How do I read plot data from an open file descriptor?"
    assert verify("Use `'<&n'`.", question, [passage], 0.6).supported
    assert not verify("Use `'<&m'`.", question, [passage], 0.6).supported


def test_an_apostrophe_does_not_open_a_quotation():
    passage = "The --filters option applies the working tree's smudge filters to the file's content."
    question = "How does cat-file apply filters?"
    # Read as a quotation, "s smudge filters to the file" would have to appear verbatim.
    assert verify("Use --filters: it applies the tree's smudge filters to the file's content.", question, [passage], 0.6).supported


def test_a_verbatim_span_must_appear_whole_not_inside_a_longer_word():
    passage = "--color-by-age\nColor line annotations by age; the color.blame.highlightRecent option picks the colors."
    question = "Is there a git blame option that highlights recently changed lines?"
    # `recent` is neither a word of the passage nor of the question ("recently").
    assert not verify("Use `--color-by-age` with the value `recent`.", question, [passage], 0.6).supported
    assert verify("Use `--color-by-age`; `color.blame.highlightRecent` picks the colors.", question, [passage], 0.6).supported
    assert verify("Set `color.blame.highlightRecent`.", question, ["Set color.blame.highlightRecent."], 0.6).supported
