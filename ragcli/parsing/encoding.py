"""Bytes to text: byte-order mark, then the document's own declaration, then UTF-8, then detection.

Legacy pages (windows-1252, Shift_JIS, KOI8-R, ...) must read as their authors
wrote them, and a wrong declaration must not turn a page into mojibake.
"""

from __future__ import annotations

import codecs
import re

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
# As browsers do (WHATWG Encoding): pages labelled latin-1 or ASCII are really windows-1252.
_ALIASES = {"iso8859-1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252"}
# Detection looks at this much text; enough for a confident guess, cheap on a 20 MB file.
_SAMPLE = 256 * 1024
_DETECTION_MIN_HIGH_BYTES = 64


def declared_encoding(data: bytes) -> str | None:
    """The encoding a page declares in a meta tag or XML declaration (first 8 KB), if Python knows it."""
    head = data[:8192]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name.startswith("utf-16") or name.startswith("utf-32"):
        return "utf-8"  # a byte-oriented file cannot be UTF-16 without a BOM; the label is a copy-paste
    return _ALIASES.get(name, name)


def _detected(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return None
    best = from_bytes(data[:_SAMPLE]).best()
    return best.encoding if best is not None else None


def decode(data: bytes, *, markup: bool = False) -> str:
    """Decode bytes to text; never fails (the last resort replaces what it cannot read)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    candidates = [declared_encoding(data)] if markup else []
    candidates.append("utf-8")
    for encoding in candidates:
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
    # A few accented letters are Western text (detection guesses wildly on them); many are worth detecting.
    high = len(data[:_SAMPLE]) - len(data[:_SAMPLE].translate(None, bytes(range(128, 256))))
    guess = _detected(data) if high >= _DETECTION_MIN_HIGH_BYTES else None
    for encoding in (guess, "cp1252"):
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("latin-1")
