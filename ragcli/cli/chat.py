"""`rag chat`: a REPL over the index; each turn is answered and cited like `rag ask`.

On a terminal it is a real line editor (GNU readline through Python's `readline`: arrows,
history kept in the state directory, Ctrl-R search); commands start with "/"; Ctrl-C cancels
the answer being written (or clears the line being typed) and Ctrl-D quits, each leaving a
clean line. Piped questions are echoed before their answers, so the output reads as a transcript.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ragcli.cli.app import app, run_command, settings_for
from ragcli.cli.options import (
    EndpointOption, GpuLayersOption, IndexOption, KOption, LoraOption, ModelOption, PathOption, ReasoningOption, ThreadsOption, TypeOption,
    VerifierOption, answer_flags, scope_flags,
)
from ragcli.cli.querying import reasoning_to_stderr
from ragcli.cli.terminal import echo, json_text, one_line

PROMPT = "you> "
COMMANDS = {
    "/help": "show this help",
    "/reset": "forget the conversation (follow-ups no longer refer to earlier turns)",
    "/exit": "quit (or Ctrl-D)",
    "/quit": "quit",
}
HELP = "\n".join(
    ["Ask a question; follow-ups may refer to earlier turns. Ctrl-C stops an answer, Ctrl-D quits.", "Commands:"]
    + [f"  {name:<7} {what}" for name, what in COMMANDS.items()]
)
_HISTORY_LINES = 1000


class LineReader:
    """Questions from the terminal (with line editing and history) or from a pipe."""

    def __init__(self, history: Path | None) -> None:
        self.interactive = sys.stdin.isatty()
        self.history = history
        self._readline = None
        if self.interactive:
            try:
                import readline
            except ImportError:  # a Python built without it: plain input still works
                readline = None
            self._readline = readline
            if readline is not None and history is not None:
                try:
                    readline.read_history_file(history)
                except OSError:
                    pass  # no history yet
                readline.set_history_length(_HISTORY_LINES)

    def read(self) -> str | None:
        """The next question (stripped), "" for an empty or cancelled line, None at the end."""
        if not self.interactive:
            line = sys.stdin.readline()
            return None if line == "" else line.strip()
        self._discard_type_ahead()
        try:
            return input(PROMPT).strip()
        except EOFError:
            sys.stdout.write("\n")  # Ctrl-D: leave the shell's prompt on a line of its own
            return None
        except KeyboardInterrupt:
            sys.stdout.write("^C\n")  # as a shell does: the typed line is dropped
            return ""

    def remember(self) -> None:
        if self._readline is not None and self.history is not None:
            try:
                self.history.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._readline.write_history_file(self.history)
                self.history.chmod(0o600)  # questions can be as private as the documents
            except OSError:
                pass  # a read-only home: the history is simply not kept

    @staticmethod
    def _discard_type_ahead() -> None:
        """Keys pressed while an answer was being written do not become the next question."""
        try:
            import termios

            termios.tcflush(sys.stdin, termios.TCIFLUSH)
        except (ImportError, OSError, ValueError):
            pass


@app.command()
def chat(
    ctx: typer.Context,
    k: Optional[int] = KOption,
    index: Optional[Path] = IndexOption,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per turn (ask's fields plus the standalone question)."),
    model: Optional[str] = ModelOption,
    endpoint: Optional[str] = EndpointOption,
    threads: Optional[int] = ThreadsOption,
    gpu_layers: Optional[int] = GpuLayersOption,
    lora: Optional[Path] = LoraOption,
    show_reasoning: Optional[bool] = ReasoningOption,
    verifier: Optional[str] = VerifierOption,
    path: Optional[list[str]] = PathOption,
    kind: Optional[list[str]] = TypeOption,
    rewrite: Optional[str] = typer.Option(None, "--rewrite", metavar="llm|simple", help="Rewrite follow-ups with the model (llm) or by carrying the topic over (simple); default: chat.rewrite, llm."),
) -> None:
    """Talk with your documents: questions are read from the terminal (or stdin), one per line."""
    from ragcli.answer.chat import open_conversation
    from ragcli.cli.asking import AskDisplay, run_interruptibly
    from ragcli.cli.terminal import colour_wanted
    from ragcli.cli.rendering import render_sources

    def action() -> None:
        flags = {"retrieval.k": k, "chat.rewrite": rewrite, **answer_flags(model, threads, gpu_layers, lora, show_reasoning, verifier, endpoint),
                 **scope_flags(path, kind)}
        settings = settings_for(ctx, flags, index)
        reader = LineReader(settings.state_path / "chat_history")
        conversation = open_conversation(settings)
        colour = colour_wanted(sys.stdout)
        try:
            if reader.interactive and not json_output:
                echo(HELP, err=True)
            while True:
                question = reader.read()
                if question is None:
                    break
                if not question:
                    continue
                if question.startswith("/"):
                    command = question.split()[0].lower()
                    if command in ("/exit", "/quit"):
                        break
                    if command == "/help":
                        echo(HELP, err=True)
                    elif command == "/reset":
                        conversation.reset()
                        echo("(conversation forgotten)", err=True)
                    else:
                        echo(f"unknown command {one_line(command)}; /help lists the commands", err=True)
                    continue
                if not reader.interactive and not json_output:
                    echo(f"{PROMPT}{question}")
                if json_output:
                    turn = conversation.ask(question, k)
                    sys.stdout.write(json_text(turn.to_json(), indent=None) + "\n")
                    sys.stdout.flush()
                    continue
                try:
                    with AskDisplay(live=True) as display:
                        turn = run_interruptibly(
                            lambda: conversation.ask(
                                question, k, on_text=display.text, on_reasoning=reasoning_to_stderr, on_event=display.on_event,
                                on_standalone=lambda text: display.note(f"(searching for: {one_line(text)})"),
                            ),
                            conversation.answerer.generator.cancel,
                        )
                        display.finish()
                except KeyboardInterrupt:
                    echo("\n(answer stopped)", err=True)
                    continue
                echo("\n")
                echo(render_sources(turn.answer, colour=colour), styled=colour)
                echo()
        finally:
            reader.remember()
            conversation.answerer.close()

    run_command(ctx, action)
