"""`rag ask` on a terminal: what is happening, and the answer as it is checked.

- Until the answer starts, a status line on stderr names the stage with the elapsed time, and
  the passages the answer will come from are listed as soon as they are known.
- The draft is shown dim and is never mistaken for the answer: while a sentence is being written
  its draft shows dim (in the status line, or after the answer so far on its line), and it is
  replaced by the checked sentence, or wiped when the passages do not back it.
- Ctrl-C stops the model within a moment: the answer runs in a worker thread, so the main thread
  hears Ctrl-C at once and cancels the generation.

On a pipe or with --quiet nothing of this is shown: only verified text, as before.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import unicodedata
from typing import Callable, TypeVar

from ragcli.cli.terminal import clean, colour_wanted, one_line
from ragcli.records import AskEvent, AskEventKind, AskStage

T = TypeVar("T")

_DIM, _RESET, _CLEAR_LINE = "\x1b[2m", "\x1b[0m", "\x1b[K"
_SAVE, _RESTORE = "\x1b7", "\x1b8"
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# A preview shorter than this is not worth showing after the answer on its line.
_MIN_PREVIEW = 12


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text)


def _head(text: str, room: int) -> str:
    """The start of ``text`` that fits ``room`` columns, with "…" when it is cut."""
    if _width(text) <= room:
        return text
    out, used = [], 1
    for ch in text:
        used += _width(ch)
        if used > room:
            break
        out.append(ch)
    return "".join(out) + "…"


def _tail(text: str, room: int) -> str:
    """The end of ``text`` that fits ``room`` columns."""
    out, used = [], 0
    for ch in reversed(text):
        used += _width(ch)
        if used > room:
            break
        out.append(ch)
    return "".join(reversed(out))


class AskDisplay:
    """Renders a running ask on a terminal; does nothing but pass verified text on elsewhere."""

    def __init__(self, *, live: bool) -> None:
        self.live = live and colour_wanted(sys.stderr) and colour_wanted(sys.stdout)
        self._lock = threading.RLock()
        self._started = time.monotonic()
        self._stage = "loading the index and the model"
        self._draft = ""  # the sentence being written, not yet checked
        self._answering = False  # verified text has been written to stdout
        self._column = 0  # where stdout's cursor is on its line
        self._preview_shown = False
        self._withheld = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self) -> "AskDisplay":
        if self.live:
            self._draw_status()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
        with self._lock:
            self._erase()

    def _tick(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                if not self._answering:
                    self._draw_status()

    # -- events -----------------------------------------------------------------

    def on_event(self, event: AskEvent) -> None:
        with self._lock:
            if event.kind is AskEventKind.STAGE:
                if event.stage is AskStage.READING and self._stage.startswith("reading"):
                    return
                self._stage = str(event.stage)
                if event.stage in (AskStage.WRITING, AskStage.REVISING):
                    self._draft = ""
            elif event.kind is AskEventKind.PASSAGES:
                self._passages(event)
            elif event.kind is AskEventKind.DRAFT:
                self._draft += event.text
            elif event.kind is AskEventKind.SENTENCE:
                self._draft = ""
                if event.withheld:
                    self._withheld += 1
            if self.live:
                self._redraw()

    def text(self, piece: str) -> None:
        """Verified text for stdout (the answer itself)."""
        with self._lock:
            self._erase()
            sys.stdout.write(clean(piece))
            sys.stdout.flush()
            self._answering = True
            self._advance(piece)
            if self.live:
                self._redraw()

    def note(self, text: str) -> None:
        """A line of its own on stderr (what a follow-up was rewritten to), above the status line."""
        with self._lock:
            self._erase()
            sys.stderr.write(f"{_DIM}{clean(text)}{_RESET}\n" if self.live else clean(text) + "\n")
            sys.stderr.flush()
            if self.live and not self._answering:
                self._draw_status()

    def finish(self) -> None:
        """The answer is complete: wipe what is in progress and say what was held back."""
        with self._lock:
            self._stop.set()
            self._erase()
            if self.live and self._withheld:
                noun = "sentence" if self._withheld == 1 else "sentences"
                sys.stdout.write("\n")
                sys.stderr.write(f"{_DIM}({self._withheld} draft {noun} withheld: no passage backs them; --json shows them){_RESET}")
                sys.stderr.flush()

    # -- drawing ----------------------------------------------------------------

    def _passages(self, event: AskEvent) -> None:
        if not self.live:
            return
        names = []
        for hit in event.hits:
            name = one_line(os.path.basename(hit.path)) + (f" p.{hit.page}" if hit.page is not None else "")
            if name not in names:
                names.append(name)
        self._erase()
        line = f"reading {len(event.hits)} passage{'s' if len(event.hits) != 1 else ''}: " + " · ".join(names)
        columns = shutil.get_terminal_size().columns
        sys.stderr.write(f"{_DIM}{_head(line, columns - 1)}{_RESET}\n")
        self._stage = f"reading {len(event.hits)} passages"

    def _redraw(self) -> None:
        self._erase()
        if not self._answering:
            self._draw_status()
        else:
            self._draw_preview()

    def _draw_status(self) -> None:
        elapsed = time.monotonic() - self._started
        spinner = _SPINNER[int(elapsed * 10) % len(_SPINNER)]
        head = f"{spinner} {self._stage} {elapsed:.1f}s"
        columns = shutil.get_terminal_size().columns
        room = columns - _width(head) - 4
        draft = one_line(" ".join(self._draft.split()))
        preview = f"  {_tail(draft, room)}" if draft and room > _MIN_PREVIEW else ""
        sys.stderr.write(f"\r{_CLEAR_LINE}{_DIM}{head}{preview}{_RESET}")
        sys.stderr.flush()
        self._preview_shown = True

    def _draw_preview(self) -> None:
        """The sentence being written, dim, after the answer so far on its line (never wrapping,
        so that it can be wiped exactly)."""
        draft = one_line(" ".join(self._draft.split()))
        room = shutil.get_terminal_size().columns - self._column - 3
        if not draft or room < _MIN_PREVIEW:
            return
        sys.stderr.write(f"{_SAVE}{_DIM} {_tail(draft, room)}{_RESET}")
        sys.stderr.flush()
        self._preview_shown = True

    def _erase(self) -> None:
        if not (self.live and self._preview_shown):
            return
        if self._answering:
            sys.stderr.write(f"{_RESTORE}{_CLEAR_LINE}")
        else:
            sys.stderr.write(f"\r{_CLEAR_LINE}")
        sys.stderr.flush()
        self._preview_shown = False

    def _advance(self, text: str) -> None:
        columns = max(1, shutil.get_terminal_size().columns)
        for ch in text:
            if ch == "\n":
                self._column = 0
            else:
                self._column = (self._column + _width(ch)) % columns


def run_interruptibly(work: Callable[[], T], cancel: Callable[[], None]) -> T:
    """Run ``work`` in a worker thread, so that Ctrl-C reaches this (main) thread at once; on
    Ctrl-C ``cancel`` stops the work, and KeyboardInterrupt is raised here within a moment."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # handed to the main thread, whatever it is
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        cancel()
        worker.join(1.0)  # the model stops between two steps of its graph
        raise
    if "error" in result:
        raise result["error"]
    return result["value"]
