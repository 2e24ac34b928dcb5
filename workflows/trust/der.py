"""DER building blocks for messages assembled from pre-encoded pieces (TSA answers, CMS)."""

from __future__ import annotations

from asn1crypto import core


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: `tag` (a single identifier byte), definite length, `content`."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def attribute(oid: str, value_der: bytes) -> bytes:
    """A CMS Attribute with one value: SEQUENCE { type OID, values SET { value } }."""
    return tlv(0x30, core.ObjectIdentifier(oid).dump() + tlv(0x31, value_der))
