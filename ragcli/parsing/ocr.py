"""Optional OCR for PDF pages without a text layer, with the tesseract command when it is installed.

Scanned pages are images drawn on the page; each image is passed to
``tesseract stdin stdout`` as PNG bytes. The command line is fixed: a document
supplies only pixels, never arguments or paths.
"""

from __future__ import annotations

import io
import shutil
import subprocess

# One image must not eat the file's whole time budget.
_IMAGE_TIMEOUT_S = 60
# Pixels beyond this are a decompression bomb or a poster, not a scanned page.
_MAX_PIXELS = 40_000_000


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_image(png: bytes) -> str:
    """Text that tesseract reads in one PNG image ("" when it reads nothing or fails)."""
    binary = shutil.which("tesseract")
    if binary is None:
        return ""
    try:
        result = subprocess.run(
            [binary, "stdin", "stdout"], input=png, capture_output=True, timeout=_IMAGE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if result.returncode != 0:
        return ""
    return result.stdout.decode("utf-8", "replace").strip()


def ocr_page(page) -> str:
    """OCR the images of one pypdf page, in drawing order; "" without tesseract or images."""
    if not ocr_available():
        return ""
    texts: list[str] = []
    try:
        images = list(page.images)
    except Exception:  # image extraction needs Pillow and well-formed XObjects; OCR is a bonus
        return ""
    for image in images:
        try:
            picture = image.image
            if picture is None or picture.width * picture.height > _MAX_PIXELS:
                continue
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
        except Exception:  # a broken or exotic image: skip it, keep the others
            continue
        text = ocr_image(buffer.getvalue())
        if text:
            texts.append(text)
    return "\n\n".join(texts)
