"""Zip-packaged documents (DOCX, PPTX, ODT, EPUB) are checked before any library opens them.

A package is refused, with the reason, when it is not a zip at all (an encrypted Office file is
an OLE compound file), is damaged or truncated, is encrypted, would inflate past the limits
below (a zip bomb, or one huge XML part), or holds an XML part that declares entities.

Python's zipfile never inflates a part past the size its directory declares (a part that lies
about its size fails its CRC check), so checking the declared sizes bounds what the libraries
can inflate. Entities: the format libraries parse with lxml, whose parsers neither load DTDs nor
reach the network, and python-docx, python-pptx and ebooklib also keep entities unexpanded;
refusing every part that declares entities makes that one rule for all of them, without parsing
each part twice (as defusedxml would) to find out. No real Office or EPUB file declares any.
"""

from __future__ import annotations

import io
import re
import zipfile

from ragcli.errors import DocumentError

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Parts of a package and the bytes they may inflate to, in all.
MAX_PARTS = 20_000
MAX_INFLATED_BYTES = 1 << 30
# A part larger than MIN_BOMB_BYTES that inflates more than MAX_RATIO times is a bomb: XML
# compresses 10 to 30 times; a zip bomb's runs of zeros, a thousand times.
MAX_RATIO = 200
MIN_BOMB_BYTES = 1 << 20
_XML_SUFFIXES = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".svg", ".smil")
# Entity declarations live in the prolog, before the first element: this much of a part is read.
_PROLOG_BYTES = 1 << 16
_DTD_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[|<!ENTITY", re.IGNORECASE)
# The first element's start tag (declarations, comments and the DOCTYPE start with "<?" or "<!").
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def open_package(data: bytes, kind: str) -> zipfile.ZipFile:
    """The document's zip, after the checks in the module docstring; DocumentError otherwise."""
    name = kind.upper()
    if data.startswith(_OLE):
        raise DocumentError(
            f"{name} is password-protected (or an old binary Office file renamed): it is an OLE compound file, not a zip; "
            f"remove the password or save it again as {name}"
        )
    if not data.startswith(_ZIP):
        article = "an" if name[0] in "AEIOU" else "a"
        raise DocumentError(f"not {article} {name} (no zip signature); the file may be mislabelled or damaged")
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        parts = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(f"not a readable {name} (damaged or truncated zip: {exc})") from None
    if len(parts) > MAX_PARTS:
        raise DocumentError(f"{name} has {len(parts):,} parts, over the limit of {MAX_PARTS:,}")
    if any(part.flag_bits & 0x1 for part in parts):
        raise DocumentError(f"{name} is an encrypted zip; decrypt it and ingest the copy")
    inflated = sum(part.file_size for part in parts)
    if inflated > MAX_INFLATED_BYTES:
        raise DocumentError(
            f"{name} inflates to {_megabytes(inflated)}, over the limit of {_megabytes(MAX_INFLATED_BYTES)} (possible zip bomb)"
        )
    for part in parts:
        if part.file_size > MIN_BOMB_BYTES and part.file_size > MAX_RATIO * max(1, part.compress_size):
            raise DocumentError(
                f"{name} part {part.filename!r} inflates {part.file_size // max(1, part.compress_size):,} times, "
                f"to {_megabytes(part.file_size)} (possible zip bomb)"
            )
    for part in parts:
        if part.filename.lower().endswith(_XML_SUFFIXES):
            _refuse_entities(package, part, name)
    return package


def _refuse_entities(package: zipfile.ZipFile, part: zipfile.ZipInfo, name: str) -> None:
    try:
        with package.open(part) as stream:
            head = stream.read(_PROLOG_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DocumentError(f"not a readable {name}: part {part.filename!r} is damaged ({exc})") from None
    # UTF-16 parts: look at the ASCII bytes only.
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        head = head.replace(b"\x00", b"")
    first_element = _FIRST_ELEMENT.search(head)
    if _DTD_SUBSET.search(head, 0, first_element.start() if first_element else len(head)):
        raise DocumentError(
            f"{name} part {part.filename!r} declares XML entities (a DTD), which ragcli never expands; "
            "the file is left out (no real document needs them: it may be built to attack XML parsers)"
        )
