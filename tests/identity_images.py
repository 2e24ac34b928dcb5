"""Identity-document pictures for tests, built by hand (no imaging library): colour or
greyscale PNG and JPEG headers followed by enough data to reach a readable size."""

from __future__ import annotations

import os
import struct
import zlib

READABLE = 40 * 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(*, colour: bool = True, size: int = READABLE) -> bytes:
    """A valid PNG of about `size` bytes (random pixels do not compress)."""
    channels, colour_type = (3, 2) if colour else (1, 0)
    width = 128
    height = max(1, size // (width * channels))
    raw = b"".join(b"\x00" + os.urandom(width * channels) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b""))


def jpeg(*, colour: bool = True, size: int = READABLE) -> bytes:
    """JPEG markers up to the frame header (3 components or 1), then filler of `size` bytes."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    components = 3 if colour else 1
    sof = (b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * components, 8, 480, 640, components)
           + b"".join(bytes([i + 1, 0x11, 0]) for i in range(components)))
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    head = b"\xff\xd8" + app0 + sof + sos
    body = os.urandom(max(0, size - len(head) - 2)).replace(b"\xff", b"\x00")
    return head + body + b"\xff\xd9"


def pdf_scan(size: int = READABLE) -> bytes:
    return b"%PDF-1.4\n%" + os.urandom(size)
