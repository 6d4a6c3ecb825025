"""`rag eval --judge`: a local LLM grades each answer against the gold answer (correct, partly,
wrong) and each shown sentence against the passage it cites (supported or not).

Verdicts are read from the judge's next-token probabilities over the allowed words
(``Generator.choose``), not from text it writes: a probability can be thresholded and averaged,
and a judge cannot answer beside the question. The judge is measured in turn: agreement with the
gold-string score in every run, and against a reader's sentence labels in benchmarks/RESULTS.md,
"A local judge for rag eval".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from ragcli.answer.verify.judge import judge_messages
from ragcli.errors import ConfigError

GRADES = ("correct", "partly", "wrong")
GRADE_SYSTEM = "You grade answers against a reference answer. Reply with one word: correct, partly or wrong."


class Chooser(Protocol):
    """A generator that can say how likely each of a few words is as the start of its reply."""

    id: str

    def choose(self, messages: Sequence[dict], options: Sequence[str]) -> dict[str, float]: ...


def grade_messages(question: str, reference: str, answer: str) -> list[dict]:
    user = (
        f"Question: {question}\n\nReference answer: {reference}\n\nCandidate answer: {answer}\n\n"
        "Does the candidate answer give the reference answer? \"correct\": it does; \"partly\": it gives "
        "part of it, or it with something wrong; \"wrong\": it does not. Reply with one word."
    )
    return [{"role": "system", "content": GRADE_SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class Grade:
    label: str
    # Expected credit: P(correct) + P(partly) / 2.
    score: float
    probabilities: dict[str, float]

    def to_json(self) -> dict:
        return {"label": self.label, "score": round(self.score, 4), "p": {k: round(v, 4) for k, v in self.probabilities.items()}}


class Judge:
    def __init__(self, model: Chooser) -> None:
        if not callable(getattr(model, "choose", None)):
            raise ConfigError(
                f"the judge {getattr(model, 'id', model)!r} cannot report token probabilities",
                hint="Judge with an in-process GGUF model (--judge-model NAME|FILE), not a generation endpoint.",
            )
        self.model = model
        self.id = model.id

    def grade(self, question: str, reference: str, answer: str) -> Grade:
        p = self.model.choose(grade_messages(question, reference, answer), GRADES)
        label = max(GRADES, key=lambda g: p[g])
        return Grade(label=label, score=p["correct"] + p["partly"] / 2, probabilities=p)

    def supports(self, sentence: str, passage: str) -> float:
        """P(the passage supports the sentence)."""
        return self.model.choose(judge_messages(sentence, passage), ("yes", "no"))["yes"]


def load_judge(settings, model: str = "") -> Judge:
    """The judge: ``model`` (a bundled name or GGUF path), else verification.judge_model, else the
    answering model; always in process, since probabilities are read from its logits."""
    import dataclasses

    from ragcli.generation import load_generator

    name = model or settings.verification.judge_model or settings.generation.model
    chosen = dataclasses.replace(settings, generation=dataclasses.replace(settings.generation, model=name, lora="", endpoint=""))
    return Judge(load_generator(chosen))
