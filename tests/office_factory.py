"""Office and e-book files for tests, built here with the libraries that write each format
(python-docx, python-pptx, odfdo, ebooklib) and by hand for RTF, plus hostile variants of the
zip packages: bombs, huge parts, entity declarations, encryption, truncation."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def make_docx(path: Path, *, title: str = "Widget Manual", marker: str = "wombat") -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading("Installing", 1)
    document.add_paragraph(f"Run the installer; the {marker} service starts on port 7713.")
    document.add_heading("Options", 2)
    paragraph = document.add_paragraph("Use ")
    paragraph.add_run("--force").bold = True
    paragraph.add_run(" to overwrite existing files.")
    rows = [("Name", "Default")] + [(f"option{i}", str(i)) for i in range(60)]
    table = document.add_table(rows=len(rows), cols=2)
    for r, (name, value) in enumerate(rows):
        table.cell(r, 0).text, table.cell(r, 1).text = name, value
    document.add_heading("Usage", 1)
    document.add_paragraph("Call the widget from a shell.")
    document.save(path)
    return path


def make_pptx(path: Path, *, marker: str = "lemur", hidden_slide: bool = False) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Quarterly plan"
    first.placeholders[1].text_frame.text = f"Ship the {marker} release in March"
    first.notes_slide.notes_text_frame.text = "Mention the beta testers"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Regional sales"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(2)).table
    for r, (region, sales) in enumerate([("Region", "Sales"), ("North", "1210"), ("South", "877")]):
        table.cell(r, 0).text, table.cell(r, 1).text = region, sales
    if hidden_slide:
        secret = deck.slides.add_slide(deck.slide_layouts[5])
        secret.shapes.title.text = "Hidden plans"
        secret._element.set("show", "0")
    third = deck.slides.add_slide(deck.slide_layouts[1])
    third.shapes.title.text = "Risks"
    third.placeholders[1].text_frame.text = "The supplier of capybara parts may be late"
    deck.save(path)
    return path


def make_odt(path: Path, *, marker: str = "heron") -> Path:
    from odfdo import Document, Header, List, Paragraph, Table

    document = Document("text")
    document.meta.title = "Marsh birds"
    body = document.body
    body.append(Header(1, "Birds"))
    body.append(Paragraph(f"The {marker} stands still, then strikes."))
    body.append(Header(2, "Sizes"))
    table = Table("Sizes", width=2, height=3)
    table.set_values([["Bird", "Length"], [marker, "1 m"], ["egret", "0.9 m"]])
    body.append(table)
    body.append(List(["wades in water", "nests in reeds"]))
    document.save(path)
    return path


def make_epub(path: Path, *, marker: str = "kingfisher", chapters: int = 2) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("ragcli-test")
    book.set_title("Birds of the river")
    book.set_language("en")
    items, links = [], []
    for n in range(1, chapters + 1):
        body = f"<h1>Part {n}</h1><p>Chapter {n} text.</p><h2>Feeding</h2><p>It feeds at dawn.</p>"
        if n == 1:
            body = f"<h1>Part 1</h1><p>The {marker} dives for fish.</p><h2>Feeding</h2><p>It strikes from a perch.</p>"
        chapter = epub.EpubHtml(title=f"Part {n}", file_name=f"c{n}.xhtml", lang="en")
        chapter.content = f"<html><body>{body}</body></html>"
        book.add_item(chapter)
        items.append(chapter)
        links.append(epub.Link(f"c{n}.xhtml", f"Chapter {n}: Part {n}", f"c{n}"))
    book.toc = tuple(links)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def make_rtf(path: Path, *, marker: str = "ocelot") -> Path:
    path.write_bytes(
        b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times;}}{\\info{\\title Ocelot Guide}}\n"
        b"{\\pard\\b Installing\\b0\\par}\n"
        b"{\\pard The " + marker.encode() + b" daemon listens on port 7713. Caf\\'e9 \\u8364? euro.\\par}\n"
        b"\\trowd\\cellx1000\\cellx2000 Name\\cell Default\\cell\\row\n"
        b"\\trowd\\cellx1000\\cellx2000 size\\cell 10\\cell\\row\n}"
    )
    return path


MAKERS = {".docx": make_docx, ".pptx": make_pptx, ".odt": make_odt, ".epub": make_epub, ".rtf": make_rtf}


def rewrite_part(data: bytes, part: str, content: bytes, *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The package with one part replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            if info.filename != part:
                target.writestr(info, source.read(info))
        target.writestr(part, content)
    return out.getvalue()


def main_part(suffix: str) -> str:
    return {".docx": "word/document.xml", ".pptx": "ppt/slides/slide1.xml", ".odt": "content.xml", ".epub": "EPUB/c1.xhtml"}[suffix]


def bomb(data: bytes, suffix: str, size: int = 2_000_000_000) -> bytes:
    """A part that inflates to ``size`` bytes of zeros (a few MB compressed)."""
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with target.open("customXml/zeros.bin", "w", force_zip64=True) as stream:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                stream.write(block)
    return out.getvalue()


def huge_xml_part(data: bytes, suffix: str, megabytes: int = 300) -> bytes:
    """The main XML part padded with a huge, highly compressible run of one element."""
    part = main_part(suffix)
    original = zipfile.ZipFile(io.BytesIO(data)).read(part)
    filler = b"<!-- " + b"x" * (megabytes << 20) + b" -->"
    return rewrite_part(data, part, original.replace(b"?>", b"?>" + filler, 1) if original.startswith(b"<?xml") else filler + original)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10))
    + b"]>\n"
)


def with_entities(data: bytes, suffix: str, external: str | None = None) -> bytes:
    """The main XML part with a DTD declaring entities: billion laughs, or an external file entity."""
    part = main_part(suffix)
    original = zipfile.ZipFile(io.BytesIO(data)).read(part)
    body = original.split(b"?>", 1)[1] if original.startswith(b"<?xml") else original
    if external is None:
        prolog, reference = BILLION_LAUGHS, b"&lol9;"
    else:
        prolog, reference = f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY ext SYSTEM "file://{external}">]>\n'.encode(), b"&ext;"
    # The reference goes where text goes, so a parser that expanded it would index the result.
    for marker in (b"wombat", b"lemur", b"heron", b"kingfisher"):
        body = body.replace(marker, marker + b" " + reference, 1)
    return rewrite_part(data, part, prolog + body.lstrip())


def encrypted_zip(data: bytes) -> bytes:
    """The package with the zip's "encrypted" flag set on every part (as a password-protected zip has)."""
    buffer = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := buffer.find(signature, start)) != -1:
            buffer[at + flag_offset] |= 0x1
            start = at + 4
    return bytes(buffer)


# How a password-protected Word, PowerPoint or OpenOffice-encrypted OOXML file starts: an OLE
# compound file (the real thing is the "EncryptedPackage" stream inside one).
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
