"""The answer pipeline with a scripted generator: verification, marking, self-correction, reasoning."""

import dataclasses

import pytest

from ragcli.answer.answerer import REVISED_NOTICE, Answerer
from ragcli.answer.prompt import INSTRUCTION, QUOTE_INSTRUCTION, REFUSAL
from ragcli.answer.verify import UNSUPPORTED_MARK
from ragcli.ingest import ingest
from ragcli.retrieval.searcher import Searcher


class ScriptedGenerator:
    """Replies with the next scripted text, in small pieces as a model streams; once the script
    runs out it says its last line again (a retry that asks for a quote gets the same answer)."""

    id = "scripted"
    n_ctx = 4096

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict]] = []

    def count_tokens(self, text):
        return len(text.split())

    def stream_chat(self, messages, max_tokens, temperature):
        self.prompts.append(list(messages))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        for start in range(0, len(reply), 3):
            yield reply[start : start + 3]


def with_options(settings, **sections):
    changes = {name: dataclasses.replace(getattr(settings, name), **values) for name, values in sections.items()}
    return dataclasses.replace(settings, **changes)


@pytest.fixture
def indexed(settings, docs):
    ingest(settings, [docs])
    return settings


QUESTION = "Which uid did the operator user have?"


def answer(settings, *replies, question=QUESTION, **kwargs):
    generator = ScriptedGenerator(*replies)
    streamed: list[str] = []
    with Answerer(settings, Searcher.open(settings), generator) as answerer:
        result = answerer.ask(question, on_text=streamed.append, **kwargs)
    return result, "".join(streamed), generator


def passage_sentence(settings, question=QUESTION):
    with Searcher.open(settings) as searcher:
        hit = searcher.search(question, merge_adjacent=False).hits[0]  # as the Answerer searches
    words = hit.text.split()
    return " ".join(words[:12]).rstrip(".,;:") + "."


def test_supported_sentences_stream_with_citations_and_invented_ones_are_dropped(indexed):
    true = passage_sentence(indexed)
    result, streamed, _ = answer(indexed, f"{true} It runs as uid 99999 on port 31337.")
    assert not result.abstained and "99999" not in result.text and "[1]" in result.text
    assert streamed == result.text
    report = result.verification
    assert report["method"] == "lexical" and report["sentences"] == 2 and report["supported"] == 1
    assert report["support_ratio"] == 0.5 and report["unsupported"] == ["It runs as uid 99999 on port 31337."]
    assert [s["supported"] for s in report["per_sentence"]] == [True, False]


def test_a_sentence_the_model_repeats_is_shown_and_counted_once(indexed):
    true = passage_sentence(indexed)
    result, streamed, _ = answer(indexed, f"{true}\n{true} [2]\n{true.replace(' ', '  ')}")
    assert result.text.count("[1]") == 1 and streamed == result.text
    assert result.verification["sentences"] == 1 and result.verification["supported"] == 1


def test_mark_mode_keeps_unsupported_sentences_marked(indexed):
    settings = with_options(indexed, verification={"unsupported": "mark"})
    true = passage_sentence(settings)
    result, _, _ = answer(settings, f"{true} It runs as uid 99999 on port 31337.")
    assert f"It runs as uid 99999 on port 31337. {UNSUPPORTED_MARK}" in result.text
    assert result.verification["marked"] is True and not result.abstained


def test_nothing_supported_abstains(indexed):
    result, streamed, _ = answer(indexed, "It runs as uid 99999 on port 31337.")
    assert result.abstained and result.text == REFUSAL and streamed == REFUSAL
    assert result.verification["support_ratio"] == 0.0


def test_an_unsupported_draft_is_asked_again_for_a_quote(indexed):
    settings = with_options(indexed, verification={"self_correct": True, "correct_below": 0.5})
    true = passage_sentence(settings)
    result, streamed, generator = answer(settings, "It runs as uid 99999 on port 31337.", true)
    assert len(generator.prompts) == 2
    first, second = generator.prompts[0][-1]["content"], generator.prompts[1][-1]["content"]
    assert second.endswith(QUOTE_INSTRUCTION) and second.removesuffix(QUOTE_INSTRUCTION) == first.removesuffix(INSTRUCTION)
    assert not result.abstained and result.verification["corrected"] is True
    # Nothing of the draft was shown, so the quote is the whole answer, with no revision notice.
    assert streamed == result.text and REVISED_NOTICE not in streamed


def test_a_shown_draft_that_is_revised_says_so(indexed):
    settings = with_options(indexed, verification={"self_correct": True, "correct_below": 0.6})
    true = passage_sentence(settings)
    result, streamed, _ = answer(settings, f"{true} It runs as uid 99999 on port 31337.", true)
    assert result.verification["corrected"] is True and REVISED_NOTICE in streamed
    assert streamed.endswith(result.text)


def test_a_quote_the_sources_do_not_fully_back_is_not_taken(indexed):
    settings = with_options(indexed, verification={"self_correct": True})
    true = passage_sentence(settings)
    result, streamed, generator = answer(settings, "It runs as uid 99999 on port 31337.", f"{true} It listens on port 31337.")
    assert len(generator.prompts) == 2
    assert result.abstained and result.verification["corrected"] is False and streamed == REFUSAL


def test_self_correction_is_skipped_when_the_draft_holds_up(indexed):
    settings = with_options(indexed, verification={"self_correct": True})
    result, _, generator = answer(settings, passage_sentence(settings))
    assert len(generator.prompts) == 1 and result.verification["corrected"] is False


def test_a_draft_that_only_restates_the_question_is_asked_again(indexed):
    settings = with_options(indexed, verification={"self_correct": True})
    true = passage_sentence(settings)
    result, _, generator = answer(settings, "The operator user did have a uid.", true)
    assert len(generator.prompts) == 2 and generator.prompts[1][-1]["content"].endswith(QUOTE_INSTRUCTION)
    assert not result.abstained and result.verification["corrected"] is True


def test_a_refusal_is_not_pressed_for_an_answer(indexed):
    settings = with_options(indexed, verification={"self_correct": True})
    result, _, generator = answer(settings, f"The operator user did have a uid. {REFUSAL}")
    assert len(generator.prompts) == 1 and result.abstained and result.verification["corrected"] is False


def test_reasoning_is_hidden_unless_asked_for(indexed):
    true = passage_sentence(indexed)
    reply = f"<think>The user asks about uid 99999, I guess.</think>{true}"
    result, streamed, _ = answer(indexed, reply)
    assert "think" not in result.text and "I guess" not in streamed and not result.abstained
    assert result.verification["reasoning_chars"] > 0

    shown: list[str] = []
    settings = with_options(indexed, generation={"show_reasoning": True})
    result, streamed, _ = answer(settings, reply, on_reasoning=shown.append)
    assert "".join(shown) == "The user asks about uid 99999, I guess." and "I guess" not in result.text


def test_embedding_verifier_through_the_answerer(indexed):
    settings = with_options(indexed, verification={"method": "embedding"})
    result, _, _ = answer(settings, f"{passage_sentence(settings)} It listens on port 31337.")
    assert not result.abstained and result.verification["method"] == "embedding"
    first, invented = result.verification["per_sentence"]
    # The passage's own words pass by the lexical rule; the invented number is judged (and
    # rejected) by the embedding verifier itself, which the lexical verifier would not name.
    assert (first["supported"], first["method"]) == (True, "lexical")
    assert (invented["supported"], invented["method"]) == (False, "embedding")


def test_judge_sharing_the_generator_checks_after_the_draft(indexed):
    settings = with_options(indexed, verification={"method": "llm"})
    true = passage_sentence(settings)
    # The draft, then one judge verdict.
    result, _, generator = answer(settings, true, "yes")
    assert len(generator.prompts) == 2 and "Reply with one word" in generator.prompts[1][0]["content"]
    assert not result.abstained and result.verification["per_sentence"][0]["method"] == "llm"


def test_prompt_passages_are_separate_chunks_while_search_merges(indexed):
    query = "ninja build manual rules variables"
    # Short passages are not continued here, so every multi-chunk passage comes from merging.
    merged_for_search = with_options(indexed, retrieval={"merge_adjacent": True, "min_passage_chars": 0})
    with Searcher.open(merged_for_search, reranker=None) as searcher:
        assert any(len(h.chunk_ids) > 1 for h in searcher.search(query, k=8).hits)
    result, _, generator = answer(merged_for_search, "Rules declare variables.", question=query)
    assert result.sources and all(len(s.hit.chunk_ids) == 1 for s in result.sources)
    assert generator.prompts[0][-1]["content"].count("<source ") == len(result.sources)


def test_a_question_naming_what_no_document_mentions_abstains_without_the_model(settings, docs):
    (docs / "stats.md").write_text(
        "# Smoothing\n\nThe cnormal option turns the data into an empirical cumulative distribution function "
        "that ends at 1.\n"
    )
    ingest(settings, [docs])
    unknown, _, generator = answer(settings, question="Which option plots data from Grafana dashboards?")
    assert unknown.abstained and generator.prompts == []
    assert unknown.verification == {"skipped": "the documents never mention Grafana"}
    # An acronym the documents only write out (CDF) is not a name they never mention.
    spelled, _, generator = answer(
        settings, "The cnormal option gives an empirical cumulative distribution function.",
        question="Which option plots an empirical CDF ending at 1?",
    )
    assert len(generator.prompts) == 1
    assert not spelled.abstained and "cnormal" in spelled.text
