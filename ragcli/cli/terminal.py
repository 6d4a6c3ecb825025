"""What reaches the terminal: document text and file names are data, never terminal commands.

A PDF's text or a file's name can hold escape sequences that set the window title, write the
clipboard (OSC 52) or clear the screen, and a newline in a file name would split a log line in
two. Everything the CLI prints goes through here: control characters are shown as visible
escapes (``\\x1b``), and in one-line values (paths, names, messages) newlines and tabs too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that can make
# text read differently from what it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# JSON escapes C0 itself; C1 and the overrides are valid raw in JSON strings, so they are escaped too.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """Text for the terminal: control characters made visible, lines and tabs kept."""
    return _CONTROLS.sub(_visible, text)


def one_line(text: str) -> str:
    """A value that must stay on its line (a path, a name, an error): newlines made visible too."""
    return _LINE_CONTROLS.sub(_visible, str(text))


def echo(text: str = "", *, err: bool = False, styled: bool = False) -> None:
    """Write a line. ``styled``: the text carries ragcli's own colour codes, and every piece of
    document text or file name in it has already been through ``one_line`` or ``clean``."""
    stream = sys.stderr if err else sys.stdout
    stream.write((text if styled else clean(text)) + "\n")
    stream.flush()


def write(text: str, *, err: bool = False) -> None:
    """Streamed text (an answer as it is verified), without a newline."""
    stream = sys.stderr if err else sys.stdout
    stream.write(clean(text))
    stream.flush()


def json_text(data: dict, indent: int | None = 2) -> str:
    """JSON that no terminal interprets: every character that could be a control is escaped."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(data, ensure_ascii=False, indent=indent))


def colour_wanted(stream) -> bool:
    """Colour and cursor control only for a terminal, and never with NO_COLOR set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def wrapped(text: str, indent: str = "    ", width: int | None = None) -> str:
    """``text`` (already one line) wrapped to the terminal's width, every line indented: a hanging
    block under its heading line. Not on a pipe (no ``width``): a script's grep sees one line per passage."""
    if width is None and not sys.stdout.isatty():
        return indent + text
    columns = width or shutil.get_terminal_size().columns
    return textwrap.fill(text, width=max(40, columns - 1), initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)
