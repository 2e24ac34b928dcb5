"""Builders of small and large test PDFs (also used by bench/seal.py)."""

from __future__ import annotations

import io
import os
import zlib

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (0, 0, 595, 842)


def _text_page(writer: PdfFileWriter, text: str, resources=None) -> PageObject:
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
    }))
    res = resources or generic.DictionaryObject()
    res[pdf_name("/Font")] = generic.DictionaryObject({pdf_name("/F1"): font})
    content = f"BT /F1 24 Tf 72 760 Td ({text}) Tj ET\n".encode()
    stream = writer.add_object(generic.StreamObject(stream_data=content))
    return PageObject(contents=stream, media_box=A4, resources=res)


def make_pdf(pages: int = 1, *, text: str = "Lettre de mission", image_bytes: int = 0,
             encrypt_password: str | None = None) -> bytes:
    """A PDF of `pages` text pages; `image_bytes` adds a random (incompressible) RGB image."""
    writer = PdfFileWriter()
    for number in range(pages):
        resources = generic.DictionaryObject()
        page = _text_page(writer, f"{text} - page {number + 1}", resources)
        if number == 0 and image_bytes:
            side = max(1, int((image_bytes // 3) ** 0.5))
            image = generic.StreamObject({
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(side),
                pdf_name("/Height"): generic.NumberObject(side),
                pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            }, stream_data=os.urandom(side * side * 3))
            resources[pdf_name("/XObject")] = generic.DictionaryObject(
                {pdf_name("/Im1"): writer.add_object(image)})
            draw = writer.add_object(generic.StreamObject(
                stream_data=b"q 400 0 0 400 97 200 cm /Im1 Do Q\n"))
            page[pdf_name("/Contents")] = generic.ArrayObject([page.raw_get("/Contents"), draw])
        writer.insert_page(page)
    if encrypt_password is not None:
        writer.encrypt(encrypt_password, encrypt_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_bomb_pdf(inflated_bytes: int = 512 * 1024 * 1024) -> bytes:
    """A tiny PDF whose one content stream inflates to `inflated_bytes` of zeros."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk))]
    parts.append(compressor.flush())
    deflated = b"".join(parts)
    writer = PdfFileWriter()
    page = _text_page(writer, "bomb")
    bomb = generic.StreamObject({pdf_name("/Filter"): pdf_name("/FlateDecode")},
                                encoded_data=deflated)
    page[pdf_name("/Contents")] = writer.add_object(bomb)
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
