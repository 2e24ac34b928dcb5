"""The root certificate as an FDF file that Adobe Acrobat imports into its trusted identities."""

from __future__ import annotations

import secrets
from datetime import datetime


def _literal(text: str) -> bytes:
    # A PDF literal string of printable ASCII; names here are the platform's own.
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("ascii", "replace") + b")"


def _pdf_date(when: datetime) -> bytes:
    offset = when.strftime("%z") or "+0000"
    return _literal(f"D:{when:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'")


def certificate_fdf(der: bytes, name: str, email: str, when: datetime) -> bytes:
    """An FDF "certificate export" packet of Acrobat's public-key handler (PPKLite), as
    Acrobat writes one itself (Adobe's FDF Data Exchange Specification): a Catalog whose
    /FDF holds a /PPK dictionary importing one /Import entry with the DER certificate.

    Opening it in Acrobat asks to import the contact; its trust settings then make it a
    trusted root (README, "Trusting the root in Adobe Acrobat").
    """
    packet = f"ppklite:certExport:{when:%Y%m%d%H%M%S}{when.strftime('%z') or '+0000'}:" \
             f"{secrets.token_hex(4).upper()}"
    objects = [
        b"<</FDF 2 0 R/M" + _pdf_date(when) + b"/Type/Catalog>>",
        b"<</PPK 3 0 R>>",
        # R and V are the format versions Acrobat writes in its own certificate exports.
        b"<</EMail" + _literal(email) + b"/Ff 1/Import[4 0 R]/Name" + _literal(name)
        + b"/PacketID" + _literal(packet) + b"/R 131093/Type/PPK/V 196617>>",
        b"<</Certs[<" + der.hex().upper().encode() + b">]/Contact" + _literal(name)
        + b"/Type/Import/cn" + _literal(name) + b">>",
    ]
    out = bytearray(b"%FDF-1.2\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)
