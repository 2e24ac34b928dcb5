"""Hand-written hostile messages (raw bytes, as an attacker's script sends them) and waits on their
fate."""

from __future__ import annotations

import asyncio
import base64

from mail_gateway.spools import open_spool
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


async def quarantined(settings) -> list[tuple[str, dict]]:
    """The quarantined messages' ids and their reasons, in the deployment's spool (files or
    PostgreSQL)."""
    return [(e.id, e.reason) for e in await open_spool(settings).entries()
            if e.state == "quarantined"]


async def pending(settings) -> list[str]:
    """The ids of the messages waiting in the spool."""
    return [e.id for e in await open_spool(settings).entries() if e.state == "pending"]


async def raw_of(settings, ident: str) -> bytes:
    return (await open_spool(settings).find(ident)).raw
