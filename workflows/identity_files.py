"""Checks of an uploaded identity document: its real type (magic bytes), colour and size."""

from __future__ import annotations

import struct

from workflows.errors import (
    IdentityDocumentFormatError,
    IdentityDocumentGreyscaleError,
    IdentityDocumentTooLargeError,
    IdentityDocumentTooSmallError,
)

# A readable photo of a card is rarely under 20 KB; 10 MB is the platform's upload limit.
MIN_BYTES = 20 * 1024
MAX_BYTES = 10 * 1024 * 1024
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def check_size(size: int) -> None:
    """Raises IdentityDocumentTooSmallError or IdentityDocumentTooLargeError."""
    if size > MAX_BYTES:
        raise IdentityDocumentTooLargeError(
            f"the file is {size} bytes; the limit is {MAX_BYTES // (1024 * 1024)} MB",
            size=size, limit_mb=MAX_BYTES // (1024 * 1024))
    if size < MIN_BYTES:
        raise IdentityDocumentTooSmallError(
            f"the file is {size} bytes; at least {MIN_BYTES // 1024} KB is needed to be readable",
            size=size, min_kb=MIN_BYTES // 1024)


def content_type(data: bytes) -> str:
    """JPEG, PNG or PDF by the file's first bytes; raises IdentityDocumentFormatError."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return PDF
    raise IdentityDocumentFormatError("the file is not a JPEG, PNG or PDF picture")


def _png_is_colour(data: bytes) -> bool:
    # The IHDR chunk comes first: length, "IHDR", width, height, bit depth, colour type.
    if data[12:16] != b"IHDR" or len(data) < 26:
        raise IdentityDocumentFormatError("the PNG file is damaged")
    return data[25] not in (0, 4)  # 0: greyscale, 4: greyscale with alpha.


def _jpeg_is_colour(data: bytes) -> bool:
    # Walks the segments up to the start of frame, whose component count says grey (1) or not.
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise IdentityDocumentFormatError("the JPEG file is damaged")
        marker = data[i + 1]
        if marker == 0xFF:  # Fill byte.
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            if i + 10 > len(data):
                break
            return data[i + 9] != 1
        if marker == 0xDA:  # Start of scan before any frame header.
            break
        i += 2 + length
    raise IdentityDocumentFormatError("the JPEG file is damaged")


def check(data: bytes) -> str:
    """The content type of an acceptable identity document.

    Raises IdentityDocumentTooSmallError, IdentityDocumentTooLargeError,
    IdentityDocumentFormatError or IdentityDocumentGreyscaleError.
    """
    if len(data) > MAX_BYTES:
        check_size(len(data))
    kind = content_type(data)  # A wrong type says so, whatever the size.
    check_size(len(data))
    colour = {PNG: _png_is_colour, JPEG: _jpeg_is_colour}.get(kind)
    if colour is not None and not colour(data):
        raise IdentityDocumentGreyscaleError("the picture is in black and white; send it in "
                                             "colour")
    return kind
