"""`rag chat`: a conversation over the index. Follow-up questions ("what about its default?")
are rewritten into standalone ones before retrieval, since the retriever sees one question at a
time; each turn is then answered, verified and cited exactly like `rag ask`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ragcli.answer.prompt import is_refusal
from ragcli.config import Settings
from ragcli.records import Answer
from ragcli.vocabulary import CONVERSATION_WORD, question_terms

if TYPE_CHECKING:
    from ragcli.answer.answerer import Answerer

TextSink = Callable[[str], None]

REWRITE_SYSTEM = (
    "You rewrite a follow-up question from a conversation into one standalone question that can be "
    "understood without the conversation. Keep every name, command and option. Reply with the question only."
)
# Words that point back into the conversation: a question with them needs its context.
_REFERRING = frozenset(
    "it its it's this that these those they them their there he she one ones above same former latter instead".split()
)
# A question that opens or ends like this adds to the one before it rather than standing alone.
_CONTINUING = re.compile(
    r"^\s*(and|also|but|so|then|what about|how about|what if|same for|now)\b|\b(too|as well|instead|either|also)\W*$"
)
_ANSWER_CHARS_IN_HISTORY = 300
_REWRITE_TOKENS = 64


@dataclass(frozen=True)
class Turn:
    question: str
    # What was searched and answered: the question rewritten to stand alone.
    standalone: str
    # "none" (first turn or self-contained), "llm", or "simple" (topic carried over).
    rewrite: str
    answer: Answer

    def to_json(self) -> dict:
        return {**self.answer.to_json(), "asked": self.question, "standalone_question": self.standalone, "rewrite": self.rewrite}


def needs_context(question: str) -> bool:
    """Whether a question leans on earlier turns: it refers back, continues the last one ("and
    the y axis too?", "what about as an SVG?"), or names almost nothing."""
    lowered = question.lower()
    words = CONVERSATION_WORD.findall(lowered)
    return (
        any(w in _REFERRING for w in words) or bool(_CONTINUING.search(lowered)) or len(question_terms(question)) < 2
    )


def carry_topic(question: str, previous: str) -> str:
    """The cheap rewrite: the follow-up plus the earlier question's terms it does not repeat."""
    asked = {t.lower() for t in question_terms(question)}
    topic = [t for t in question_terms(previous) if t.lower() not in asked]
    if not topic:
        return question
    return f"{question.rstrip()} (about: {' '.join(topic)})"


def clean_rewrite(reply: str) -> str:
    """The first line of the model's reply, without labels or quotes."""
    line = next((l for l in reply.strip().splitlines() if l.strip()), "").strip()
    line = re.sub(r"^(standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip("\"'`").strip()


def _keeps_half(kept: set[str], terms: list[str]) -> bool:
    return sum(1 for t in terms if t in kept) * 2 >= len(terms)


def plausible_rewrite(rewrite: str, question: str, previous: str = "") -> bool:
    """Reject rewrites that answer instead of asking, refuse, ramble, or drop what was asked.

    A follow-up that names nothing of its own ("What is it?", "Why?") can only be about the
    ``previous`` question's subject, so its rewrite must keep most of that subject: "What is
    zlib?" is not a rewrite of "What is it?" after "Does zlib have an export control classification?".
    """
    if not rewrite or is_refusal(rewrite) or len(rewrite) > 3 * len(question) + 200:
        return False
    kept = {t.lower() for t in question_terms(rewrite)}
    asked = [t.lower() for t in question_terms(question) if t.lower() not in _REFERRING]
    if asked:
        return _keeps_half(kept, asked)
    return _keeps_half(kept, [t.lower() for t in question_terms(previous)])


@dataclass
class Conversation:
    """The turns so far, and the answerer that serves them."""

    answerer: "Answerer"
    settings: Settings
    turns: list[Turn] = field(default_factory=list)

    def reset(self) -> None:
        self.turns.clear()

    def _history_messages(self) -> str:
        recent = self.turns[-self.settings.chat.history_turns :] if self.settings.chat.history_turns else []
        lines = []
        for turn in recent:
            answer = " ".join(turn.answer.text.split())[:_ANSWER_CHARS_IN_HISTORY]
            lines += [f"User: {turn.standalone}", f"Assistant: {answer}"]
        return "\n".join(lines)

    def standalone(self, question: str) -> tuple[str, str]:
        """The question to search and answer, and how it was obtained."""
        if not self.turns or not self.settings.chat.history_turns or not needs_context(question):
            return question, "none"
        previous = self.turns[-1].standalone
        if self.settings.chat.rewrite == "llm":
            messages = [
                {"role": "system", "content": REWRITE_SYSTEM},
                {"role": "user", "content": f"Conversation:\n{self._history_messages()}\n\nFollow-up question: {question}\n\nStandalone question:"},
            ]
            reply = "".join(self.answerer.generator.stream_chat(messages, _REWRITE_TOKENS, 0.0))
            rewrite = clean_rewrite(reply)
            if plausible_rewrite(rewrite, question, previous):
                return rewrite, "llm"
        return carry_topic(question, previous), "simple"

    def ask(
        self, question: str, k: int | None = None, on_text: TextSink | None = None, on_reasoning: TextSink | None = None,
        on_standalone: TextSink | None = None, on_event=None,
    ) -> Turn:
        standalone, how = self.standalone(question)
        if on_standalone and how != "none":
            on_standalone(standalone)
        answer = self.answerer.ask(standalone, k, on_text, on_reasoning, on_event)
        turn = Turn(question, standalone, how, answer)
        self.turns.append(turn)
        return turn


def open_conversation(settings: Settings) -> Conversation:
    """Load the index and models once for a whole conversation (close its answerer when done)."""
    from ragcli.answer.answerer import Answerer

    return Conversation(Answerer.open(settings), settings)
