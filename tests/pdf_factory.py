"""Small, valid PDFs built byte by byte, so tests can make (and then break) them in microseconds."""

from __future__ import annotations

import io
import zlib


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    pages: list[list[str]], *, compress: bool = True, raw_streams: list[bytes] | None = None, shared_content: bool = False
) -> bytes:
    """A PDF with one page per entry, each line of text drawn top to bottom in Helvetica.

    ``raw_streams`` replaces the pages' content streams with already-compressed bytes (bomb tests);
    ``shared_content`` points every page at the first page's content stream.
    """
    objects: list[bytes] = []
    count = len(pages)
    font_id = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    for index, lines in enumerate(pages):
        content_id = 4 if shared_content else 4 + 2 * index
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


# A 5x7 bitmap font for the letters the OCR test draws.
_GLYPHS = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "N": ["10001", "11001", "10101", "10011", "10001", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
    " ": ["00000"] * 7,
}


def text_bitmap(text: str, scale: int = 6, margin: int = 40) -> tuple[int, int, bytes]:
    """An 8-bit grayscale raster of ``text`` in the block font: (width, height, pixels)."""
    columns: list[str] = []
    for char in text:
        glyph = _GLYPHS[char]
        for x in range(5):
            columns.append("".join(row[x] for row in glyph))
        columns.append("0" * 7)
    width = len(columns) * scale + 2 * margin
    height = 7 * scale + 2 * margin
    pixels = bytearray(b"\xff" * (width * height))
    for cx, column in enumerate(columns):
        for cy, bit in enumerate(column):
            if bit == "1":
                for dy in range(scale):
                    start = (margin + cy * scale + dy) * width + margin + cx * scale
                    pixels[start : start + scale] = b"\x00" * scale
    return width, height, bytes(pixels)


def make_scanned_pdf(text: str) -> bytes:
    """A one-page PDF whose only content is an image of ``text`` (no text layer), like a scan."""
    width, height, pixels = text_bitmap(text)
    image = zlib.compress(pixels)
    content = f"q {width} 0 0 {height} 36 600 cm /Im1 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
        b" /Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, len(image)) + image + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
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
