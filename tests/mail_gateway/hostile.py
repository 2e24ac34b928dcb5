"""Hand-written hostile messages (raw bytes, as an attacker's script sends them) and waits on their
fate."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from tests.pdfs import make_pdf


def message(*, subject: bytes = b"Documents", message_id: bytes = b"<m@dupont.fr>",
            sender: bytes = b"paul@dupont.fr", to: bytes = b"seal@paraphe.localhost",
            extra: bytes = b"", body: bytes = b"Bonjour,\r\n", pdf: bytes | None = None,
            filename_param: bytes = b'filename="lettre.pdf"') -> bytes:
    """A message whose header values are given raw; with `pdf`, a multipart with that PDF."""
    head = (b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: " + subject
            + b"\r\nMessage-ID: " + message_id + b"\r\nMIME-Version: 1.0\r\n" + extra)
    if pdf is None:
        return head + b"Content-Type: text/plain\r\n\r\n" + body
    encoded = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return (head + b"Content-Type: multipart/mixed; boundary=BND\r\n\r\n"
            b"--BND\r\nContent-Type: text/plain\r\n\r\n" + body
            + b"--BND\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; " + filename_param + b"\r\n\r\n" + encoded
            + b"--BND--\r\n")


def nested(depth: int, *, sender: bytes = b"paul@dupont.fr",
           to: bytes = b"seal@paraphe.localhost") -> bytes:
    """A multipart nested `depth` deep around one PDF."""
    head = (b"From: " + sender + b"\r\nTo: " + to + b"\r\nSubject: Deep\r\n"
            b"Message-ID: <deep@dupont.fr>\r\nMIME-Version: 1.0\r\n")
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                       for i in range(depth))
    pdf = base64.encodebytes(make_pdf(text="Deep")).replace(b"\n", b"\r\n")
    inner = (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
             b"Content-Disposition: attachment; filename=deep.pdf\r\n\r\n" + pdf)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + inner + closing


async def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.05):
    """Polls an async or sync predicate until it returns something true (or the timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(interval)


def quarantined(home: Path) -> list[tuple[Path, dict]]:
    """The quarantined messages and their reasons."""
    folder = Path(home) / "spool" / "quarantine"
    return [(p, json.loads(p.with_suffix(".json").read_text()))
            for p in sorted(folder.glob("*.eml"))]


def pending(home: Path) -> list[Path]:
    return sorted((Path(home) / "spool" / "new").glob("*.eml"))
