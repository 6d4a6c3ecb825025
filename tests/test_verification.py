"""The Verifier seam: one contract for every implementation, then what each adds."""

import pytest

from ragcli.embedding.hashing import HashEmbedder
from ragcli.answer.verify.embedding import EmbeddingVerifier, passage_windows
from ragcli.answer.verify.judge import JudgeVerifier, judge_messages, parse_verdict
from ragcli.answer.verify.lexical import LexicalVerifier

PASSAGES = [
    "The store helper saves credentials in ~/.git-credentials by default.",
    "Use --full-tree to list the whole tree regardless of the current directory.",
]


class KeywordJudge:
    """A fake judge: says yes when every word of the statement occurs in the passage."""

    id = "judge"
    n_ctx = 2048

    def __init__(self) -> None:
        self.calls = 0

    def count_tokens(self, text):
        return len(text.split())

    def stream_chat(self, messages, max_tokens, temperature):
        self.calls += 1
        user = messages[-1]["content"]
        passage = user.split("Passage:\n", 1)[1].split("\n\nStatement:", 1)[0].lower()
        statement = user.split("Statement: ", 1)[1].split("\n", 1)[0].lower()
        words = [w.strip(".,") for w in statement.split()]
        yield "Yes." if all(w in passage for w in words) else "No, it does not."


def verifiers():
    return [
        LexicalVerifier(0.6),
        EmbeddingVerifier(HashEmbedder(), 0.6, 0.6),
        JudgeVerifier(KeywordJudge(), 0.6, shares_generator=True),
    ]


@pytest.mark.parametrize("verifier", verifiers(), ids=lambda v: v.name)
def test_contract_supported_sentence_cites_its_passage(verifier):
    check = verifier.check("Use --full-tree to list the whole tree.", "How do I see everything in ls-tree?", PASSAGES)
    assert check.supported and check.informative and check.source == 2


@pytest.mark.parametrize("verifier", verifiers(), ids=lambda v: v.name)
def test_contract_invented_identifier_is_never_supported(verifier):
    check = verifier.check("Use the --gpg-sign option with dev.azure.com.", "How do I sign with Azure?", PASSAGES)
    assert check.informative and not check.supported


@pytest.mark.parametrize("verifier", verifiers(), ids=lambda v: v.name)
def test_contract_restating_the_question_is_not_informative(verifier):
    check = verifier.check("It lists the whole tree.", "How do I make it list the whole tree?", PASSAGES)
    assert not check.informative and not check.supported


def test_embedding_verifier_accepts_prose_the_word_check_rejects():
    passages = ["Credentials are stored unencrypted in a plain file in the home directory of the user."]
    sentence = "Credentials are stored unencrypted in a plain text file in the home directory."
    question = "Where does the helper keep them?"
    assert not LexicalVerifier(0.9).check(sentence, question, passages).supported
    check = EmbeddingVerifier(HashEmbedder(), 0.9, 0.5).check(sentence, question, passages)
    assert check.supported and check.method == "embedding" and check.source == 1


def test_embedding_verifier_rejects_unrelated_prose():
    passages = ["Credentials are stored unencrypted in a plain file in the home directory of the user."]
    check = EmbeddingVerifier(HashEmbedder(), 0.9, 0.5).check("Packs are compressed with zlib before pushing.", "How?", passages)
    assert check.informative and not check.supported


def test_passage_windows_pair_neighbouring_sentences():
    assert passage_windows("A one. B two. C three.") == ["A one. B two.", "B two. C three."]
    assert passage_windows("Only one") == ["Only one"]
    assert passage_windows("") == []


def test_judge_is_only_asked_about_passages_holding_the_identifiers():
    judge = KeywordJudge()
    verifier = JudgeVerifier(judge, 0.6, shares_generator=True)
    assert verifier.streams is False
    verifier.check("Use --no-such-flag.", "How?", PASSAGES)
    assert judge.calls == 0
    assert JudgeVerifier(judge, 0.6, shares_generator=False).streams is True


def test_judge_prompt_and_verdict_parsing():
    messages = judge_messages("It is blue.", "The sky is blue.")
    assert "The sky is blue." in messages[-1]["content"] and "It is blue." in messages[-1]["content"]
    assert parse_verdict(" Yes, it does.") and parse_verdict("**yes**")
    assert not parse_verdict("No.") and not parse_verdict("") and not parse_verdict("yesterday")


@pytest.mark.slow
def test_real_minilm_verifier_accepts_a_paraphrase_and_rejects_a_contradiction(tmp_path):
    from ragcli.embedding import load_embedder
    from tests.conftest import real_settings

    verifier = EmbeddingVerifier(load_embedder(real_settings(tmp_path)), 0.6, 0.6)
    passages = ["The merge window, at the start of each release cycle, usually lasts two weeks; then release candidates follow."]
    question = "How long is the Linux kernel merge window?"
    paraphrase = verifier.check("The kernel's merge window normally takes two weeks at the beginning of a cycle.", question, passages)
    assert paraphrase.supported and paraphrase.method in ("embedding", "lexical")
    unrelated = verifier.check("Each maintainer signs the tarballs with a hardware key.", question, passages)
    assert not unrelated.supported
