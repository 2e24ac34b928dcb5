"""Intake of untrusted PDFs: each refusal has its stable error, and memory stays bounded."""

from __future__ import annotations

import resource

import pytest

from tests.pdfs import make_bomb_pdf, make_pdf
from workflows.errors import (
    DocumentBombError,
    DocumentBrokenError,
    DocumentEncryptedError,
    DocumentNotPdfError,
    DocumentTooLargeError,
)
from workflows.pdf.intake import check_pdf

MiB = 1024 * 1024


def test_a_valid_pdf_is_described():
    info = check_pdf(make_pdf(pages=3), "lettre.pdf", max_bytes=10 * MiB)
    assert (info.pages, info.signatures, info.is_pdfa, info.strict) == (3, 0, False, True)


def test_a_10_mb_pdf_is_accepted():
    data = make_pdf(image_bytes=10 * MiB - 64 * 1024)
    assert 9 * MiB < len(data) <= 10 * MiB
    assert check_pdf(data, "scan.pdf", max_bytes=10 * MiB).pages == 1


def test_over_the_limit_is_refused_before_parsing():
    with pytest.raises(DocumentTooLargeError) as err:
        check_pdf(b"%PDF-1.7\n" + bytes(10 * MiB), "big.pdf", max_bytes=10 * MiB)
    assert err.value.code == "document_too_large"


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 a zip file", b"<html>%PDF-</html>"[:4],
                                  b"\x89PNG\r\n\x1a\n" + bytes(2000)])
def test_not_a_pdf(data):
    with pytest.raises(DocumentNotPdfError) as err:
        check_pdf(data, "x.pdf", max_bytes=MiB)
    assert err.value.code == "document_not_pdf"


def test_encrypted_is_refused():
    with pytest.raises(DocumentEncryptedError) as err:
        check_pdf(make_pdf(encrypt_password="secret"), "locked.pdf", max_bytes=MiB)
    assert err.value.code == "document_encrypted"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no_pages"])
def test_broken_is_refused(damage):
    good = make_pdf()
    data = {"truncated": good[: len(good) // 2],
            "garbage": b"%PDF-1.7\n" + b"\x00\xff garbage " * 50,
            "no_pages": good.replace(b"/Count 1", b"/Count 0")}[damage]
    with pytest.raises(DocumentBrokenError) as err:
        check_pdf(data, "broken.pdf", max_bytes=MiB)
    assert err.value.code == "document_broken"


def test_a_decompression_bomb_is_refused_with_bounded_memory():
    bomb = make_bomb_pdf(inflated_bytes=512 * MiB)
    assert len(bomb) < MiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with pytest.raises(DocumentBombError) as err:
        check_pdf(bomb, "bomb.pdf", max_bytes=10 * MiB)
    assert err.value.code == "document_bomb"
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 32 * MiB  # it never holds the inflated data


def test_stacked_deflate_layers_are_counted():
    import zlib

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
    import io

    inner = zlib.compress(bytes(200 * MiB), 9)
    outer = zlib.compress(inner, 9)
    writer = PdfFileWriter()
    stream = generic.StreamObject({pdf_name("/Filter"): generic.ArrayObject(
        [pdf_name("/FlateDecode"), pdf_name("/FlateDecode")])}, encoded_data=outer)
    writer.insert_page(PageObject(contents=writer.add_object(stream), media_box=(0, 0, 10, 10)))
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentBombError):
        check_pdf(out.getvalue(), "double.pdf", max_bytes=10 * MiB)
