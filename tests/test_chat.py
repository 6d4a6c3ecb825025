"""`rag chat`: follow-up rewriting, the conversation, and the REPL through the CLI."""

import json

from typer.testing import CliRunner

from ragcli.answer.answerer import Answerer
from ragcli.answer.chat import Conversation, carry_topic, clean_rewrite, needs_context, plausible_rewrite
from ragcli.cli import app
from ragcli.generation.echo import EchoGenerator
from ragcli.ingest import ingest
from ragcli.retrieval.searcher import Searcher


def test_follow_ups_are_recognised():
    assert needs_context("What about its default?")
    assert needs_context("Why?")
    assert not needs_context("Where does the git credential store helper save credentials?")
    # Continuations name a new thing but add it to the last question.
    assert needs_context("and the y axis too?")
    assert needs_context("What about as an SVG file?")
    assert needs_context("How do I discard the working tree changes as well?")
    assert not needs_context("How do I make the y axis logarithmic in gnuplot?")
    assert not needs_context("Andrew's merge strategy: what does git merge -s ours do?")


def test_cheap_rewrite_carries_the_topic_over():
    previous = "Where does the credential store helper save credentials?"
    assert carry_topic("And its file permissions?", previous) == (
        "And its file permissions? (about: credential store helper save credentials)"
    )
    assert carry_topic("credential store helper?", "credential store helper") == "credential store helper?"


def test_model_rewrites_are_cleaned_and_checked():
    assert clean_rewrite('Standalone question: "What is the default file of the store helper?"\nextra') == (
        "What is the default file of the store helper?"
    )
    assert plausible_rewrite("What permissions does the store helper's file have?", "And its file permissions?")
    assert not plausible_rewrite("The documents do not contain the answer.", "And its permissions?")
    assert not plausible_rewrite("How do I rebase?", "And its file permissions?")
    assert not plausible_rewrite("", "Why?")
    # A follow-up that names nothing of its own keeps the earlier question's subject.
    earlier = "Does zlib have an export control classification?"
    assert not plausible_rewrite("What is zlib?", "What is it?", earlier)
    assert plausible_rewrite("What is zlib's export control classification?", "What is it?", earlier)


class RewritingGenerator(EchoGenerator):
    """The echo fake, but rewrite requests get a fixed standalone question."""

    def __init__(self, rewrite: str) -> None:
        super().__init__()
        self.rewrite = rewrite
        self.rewrites = 0

    def stream_chat(self, messages, max_tokens, temperature):
        if "standalone question" in messages[0]["content"]:
            self.rewrites += 1
            yield self.rewrite
            return
        yield from super().stream_chat(messages, max_tokens, temperature)


def test_conversation_rewrites_follow_ups_before_retrieval(settings, docs):
    ingest(settings, [docs])
    generator = RewritingGenerator("Which gid did the operator user have?")
    conversation = Conversation(Answerer(settings, Searcher.open(settings), generator), settings)
    first = conversation.ask("Which uid did the operator user have?")
    assert first.rewrite == "none" and generator.rewrites == 0
    second = conversation.ask("And which gid did it have?")
    assert second.rewrite == "llm" and second.standalone == "Which gid did the operator user have?"
    assert second.answer.question == second.standalone and len(conversation.turns) == 2

    generator.rewrite = "Tell me about rebasing."  # drops what was asked: the cheap rewrite takes over
    third = conversation.ask("And its shell?")
    assert third.rewrite == "simple" and third.standalone.startswith("And its shell? (about:")
    conversation.reset()
    assert conversation.ask("And its shell?").rewrite == "none"
    conversation.answerer.close()


def fake_model_env(tmp_path):
    return {
        "RAG_INDEX": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "cache"),
        "RAG_EMBEDDING_MODEL": "hash", "RAG_GENERATION_MODEL": "echo",
    }


def test_chat_cli_answers_each_line_as_json(tmp_path, docs):
    env = fake_model_env(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs)], env=env).exit_code == 0
    questions = "What does the dip group stand for?\n\n/reset\nWhich uid did the operator user have?\nAnd its shell?\n/exit\nignored\n"
    result = runner.invoke(app, ["chat", "--json", "--rewrite", "simple"], env=env, input=questions)
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["asked"] for t in turns] == ["What does the dip group stand for?", "Which uid did the operator user have?", "And its shell?"]
    assert turns[0]["rewrite"] == "none" and turns[1]["rewrite"] == "none"
    assert turns[2]["rewrite"] == "simple" and "operator" in turns[2]["standalone_question"]
    assert {"answer", "abstained", "sources", "verification"} <= set(turns[0])


def test_chat_plain_output_streams_answers_and_sources(tmp_path, docs):
    env = fake_model_env(tmp_path)
    runner = CliRunner()
    runner.invoke(app, ["ingest", str(docs)], env=env)
    result = runner.invoke(app, ["chat"], env=env, input="What does the dip group stand for?\n")
    assert result.exit_code == 0, result.output
    assert "[1]" in result.stdout and "Sources:" in result.stdout


def test_chat_type_filter_scopes_every_turn(tmp_path, docs):
    env = fake_model_env(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs)], env=env).exit_code == 0
    questions = "What does the dip group stand for?\nWhat is the default weight of a glob pattern?\n"
    result = runner.invoke(app, ["chat", "--json", "--rewrite", "simple", "--type", "pdf"], env=env, input=questions)
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    sources = [s["path"] for t in turns for s in t["sources"]]
    assert len(turns) == 2 and sources and all(path.endswith(".pdf") for path in sources)
