"""A parser worker: `python -m ragcli.parsing.worker` reads one JSON request per line on stdin
and writes one JSON reply per line on stdout.

It runs under an address-space limit, so a file that would need more memory
fails with a reason instead of taking the machine down; the parent kills it
when a file overruns its time budget. The same ``handle`` function serves the
in-process fallback, so both paths read and report files identically.

Request: ``{"path": str, "max_bytes": int, "ocr": bool}``.
Reply: ``{"sha256": str, "document": {...}}`` or ``{"error": str}``. A section text longer than
``PART_CHARS`` travels as ``"parts": n`` in its section, followed by n lines ``{"part": str}``:
one 100 MB line would cost the parent several copies of it just to read and decode.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

from ragcli.errors import DocumentError
from ragcli.records import ParsedDocument, Section

_READY = {"ready": True}
PART_CHARS = 1 << 20


def read_regular_file(path: str, max_bytes: int) -> bytes:
    """Read a whole regular file, refusing FIFOs and devices (a FIFO open would block) and oversized files."""
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the walk, open returns instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DocumentError("file vanished before it could be read") from None
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DocumentError("not a regular file (device, FIFO or socket)")
        if info.st_size > max_bytes:
            raise DocumentError(f"file is {info.st_size / 2**20:.1f} MB, over the parsing.max_file_mb limit of {max_bytes / 2**20:g} MB")
        chunks: list[bytes] = []
        total = 0
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            total += len(block)
            if total > max_bytes:  # the file grew while being read
                raise DocumentError(f"file grew past the parsing.max_file_mb limit of {max_bytes / 2**20:g} MB while being read")
            chunks.append(block)
        return b"".join(chunks)
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror}") from None
    finally:
        os.close(fd)


def document_to_json(document: ParsedDocument) -> dict:
    return {
        "kind": document.kind,
        "title": document.title,
        "warnings": list(document.warnings),
        "sections": [{"text": s.text, "page": s.page, "headings": list(s.headings)} for s in document.sections],
    }


def document_from_json(data: dict) -> ParsedDocument:
    return ParsedDocument(
        kind=str(data["kind"]),
        title=str(data["title"]),
        warnings=[str(w) for w in data.get("warnings", [])],
        sections=[Section(text=s["text"], page=s["page"], headings=tuple(s["headings"])) for s in data["sections"]],
    )


def handle(request: dict) -> dict:
    """Read and parse one file; every failure becomes ``{"error": reason}``."""
    from ragcli.parsing import parse_document

    try:
        data = read_regular_file(request["path"], int(request["max_bytes"]))
        digest = hashlib.sha256(data).hexdigest()
        document = parse_document(data, Path(request["path"]), ocr=bool(request.get("ocr", False)))
        return {"sha256": digest, "document": document_to_json(document)}
    except DocumentError as exc:
        return {"error": str(exc)}
    except MemoryError:
        return {"error": memory_reason(request)}


def reply_lines(reply: dict) -> list[str]:
    """The reply as JSON lines: long section texts moved out into part lines (module docstring)."""
    parts: list[str] = []
    for section in (reply.get("document") or {}).get("sections", []):
        text = section["text"]
        if len(text) > PART_CHARS:
            pieces = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
            section["text"], section["parts"] = "", len(pieces)
            parts += [json.dumps({"part": piece}) for piece in pieces]
    return [json.dumps(reply), *parts]


def memory_reason(request: dict) -> str:
    limit = request.get("max_memory_mb")
    where = f" (parsing.max_memory_mb = {limit})" if limit else ""
    return f"parsing needs more memory than allowed{where}; raise the limit or leave the file out"


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):  # a lower hard limit is already in force: keep it
        pass


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so a killed ingest leaves no parser behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    max_memory_mb = int(argv[0]) if argv else 0
    _die_with_parent()
    if max_memory_mb:
        _limit_memory(max_memory_mb)
    # Replies go to a private copy of stdout; anything a library prints lands on stderr instead.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    replies.write(json.dumps(_READY) + "\n")
    replies.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        request["max_memory_mb"] = max_memory_mb
        try:
            lines = reply_lines(handle(request))
        except MemoryError:
            lines = [json.dumps({"error": memory_reason(request)})]
        for text in lines:
            replies.write(text + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
