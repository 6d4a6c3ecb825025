"""Optional OCR for PDF pages without a text layer, with the tesseract command when it is installed.

Scanned pages are images drawn on the page; each image is passed to
``tesseract stdin stdout`` as an image file (JPEG, TIFF or netpbm, no imaging library needed). The command line is fixed: a document
supplies only pixels, never arguments or paths.
"""

from __future__ import annotations

import shutil
import subprocess

# One image must not eat the file's whole time budget.
_IMAGE_TIMEOUT_S = 60
# Pixels beyond this are a decompression bomb or a poster, not a scanned page.
_MAX_PIXELS = 40_000_000


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_image(image: bytes) -> str:
    """Text that tesseract reads in one image file ("" when it reads nothing or fails)."""
    binary = shutil.which("tesseract")
    if binary is None:
        return ""
    try:
        result = subprocess.run(
            [binary, "stdin", "stdout"], input=image, capture_output=True, timeout=_IMAGE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if result.returncode != 0:
        return ""
    return result.stdout.decode("utf-8", "replace").strip()


def _image_file(xobject) -> bytes | None:
    """The image as a file tesseract can read (JPEG, JPEG 2000, TIFF or netpbm), without Pillow."""
    filters = xobject.get("/Filter")
    names = [str(f) for f in filters] if isinstance(filters, list) else [str(filters)] if filters else []
    width, height = int(xobject.get("/Width", 0)), int(xobject.get("/Height", 0))
    if width <= 0 or height <= 0 or width * height > _MAX_PIXELS:
        return None
    data = xobject.get_data()
    if names and names[-1] in ("/DCTDecode", "/JPXDecode", "/CCITTFaxDecode"):
        return data  # JPEG, JPEG 2000, or the TIFF that pypdf wraps around fax data
    bits = int(xobject.get("/BitsPerComponent", 8))
    space = xobject.get("/ColorSpace")
    space = str(space) if not isinstance(space, list) else str(space[0])
    if bits == 8 and space == "/DeviceGray" and len(data) >= width * height:
        return b"P5 %d %d 255\n" % (width, height) + data[: width * height]
    if bits == 8 and space == "/DeviceRGB" and len(data) >= 3 * width * height:
        return b"P6 %d %d 255\n" % (width, height) + data[: 3 * width * height]
    if bits == 1 and space == "/DeviceGray":
        row = (width + 7) // 8
        if len(data) >= row * height:
            # PDF: 0 is black; PBM: 1 is black.
            return b"P4 %d %d\n" % (width, height) + bytes(b ^ 0xFF for b in data[: row * height])
    return None


def _page_images(page) -> list[bytes]:
    resources = page.get("/Resources")
    xobjects = resources.get("/XObject") if resources is not None else None
    if xobjects is None:
        return []
    images = []
    for name in xobjects:
        xobject = xobjects[name].get_object()
        if xobject.get("/Subtype") != "/Image":
            continue
        image = _image_file(xobject)
        if image:
            images.append(image)
    return images


def ocr_page(page) -> str:
    """OCR the images drawn on one pypdf page; "" without tesseract, images, or readable text."""
    if not ocr_available():
        return ""
    try:
        images = _page_images(page)
    except Exception:  # malformed resources or image streams: OCR is a bonus, not a requirement
        return ""
    texts = [text for text in (ocr_image(image) for image in images) if text]
    return "\n\n".join(texts)
