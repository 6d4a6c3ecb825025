"""Small, valid PDFs built byte by byte, so tests can make (and then break) them in microseconds."""

from __future__ import annotations

import io
import zlib


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], *, compress: bool = True, raw_streams: list[bytes] | None = None) -> bytes:
    """A PDF with one page per entry, each line of text drawn top to bottom in Helvetica.

    ``raw_streams`` replaces the pages' content streams with already-compressed bytes (bomb tests).
    """
    objects: list[bytes] = []
    count = len(pages)
    font_id = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    for index, lines in enumerate(pages):
        page_id, content_id = 3 + 2 * index, 4 + 2 * index
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R"
            f" /Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        if raw_streams is not None:
            body, flate = raw_streams[index], True
        else:
            ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
            for line in lines:
                ops.append(f"({_escape(line)}) Tj T*")
            ops.append("ET")
            plain = "\n".join(ops).encode("latin-1")
            body, flate = (zlib.compress(plain), True) if compress else (plain, False)
        header = f"<< /Length {len(body)}" + (" /Filter /FlateDecode" if flate else "") + " >>"
        objects.append(header.encode() + b"\nstream\n" + body + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str, algorithm: str = "RC4-128") -> bytes:
    """The same PDF encrypted with pypdf (RC4 needs no extra package; AES needs cryptography)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bomb_stream(expanded_bytes: int) -> bytes:
    """A Flate stream of a few hundred KB that inflates to ``expanded_bytes`` of text operators."""
    compressor = zlib.compressobj(9)
    piece = b"(a) Tj " * 4096
    parts = [compressor.compress(b"BT /F1 11 Tf 72 720 Td ")]
    written = 0
    while written < expanded_bytes:
        parts.append(compressor.compress(piece))
        written += len(piece)
    parts.append(compressor.compress(b" ET"))
    parts.append(compressor.flush())
    return b"".join(parts)
