"""DATA as the gateway reads it: dot-stuffing, the end of DATA, long lines and pipelining."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mail_gateway.smtp_data import DataTooLong, read_data
from tests.mail_gateway.mailer import build, raw, send, wait_outbox
from tests.pdfs import make_pdf

SEAL = "seal@paraphe.localhost"


async def _read(wire: bytes, *, size_limit: int | None = None, chunk: int = 7) -> bytes:
    # The stream's limit is aiosmtpd's line length limit, as on a real session; the bytes
    # arrive in small pieces so that the end of DATA straddles reads.
    reader = asyncio.StreamReader(limit=1001)
    for i in range(0, len(wire), chunk):
        reader.feed_data(wire[i:i + chunk])
    reader.feed_data(b"QUIT\r\n")
    content = await read_data(reader, size_limit, 1001)
    assert await reader.readline() == b"QUIT\r\n"  # Nothing past the end of DATA is taken.
    return content


@pytest.mark.parametrize("chunk", [1, 3, 7, 5000])
async def test_dot_stuffed_lines_come_back_as_sent(chunk):
    wire = b"Subject: x\r\n\r\n..point\r\nfin.\r\n...\r\n.\r\n"
    assert await _read(wire, chunk=chunk) == b"Subject: x\r\n\r\n.point\r\nfin.\r\n..\r\n"


async def test_a_message_may_start_with_a_dot_or_be_empty():
    assert await _read(b"..a\r\n.\r\n") == b".a\r\n"
    assert await _read(b".\r\n") == b""


async def test_a_line_over_the_limit_is_refused_after_the_whole_data():
    fits = b"a" * 999 + b"\r\n"
    assert await _read(fits + b".\r\n", chunk=400) == fits
    with pytest.raises(DataTooLong) as refused:
        await _read(fits + b"b" * 1000 + b"\r\nsuite\r\n.\r\n", chunk=400)
    assert refused.value.status.startswith("500")


async def test_a_message_over_the_size_limit_is_refused_after_the_whole_data():
    with pytest.raises(DataTooLong) as refused:
        await _read(b"x" * 80 + b"\r\n" * 200 + b".\r\n", size_limit=300, chunk=64)
    assert refused.value.status.startswith("552")


async def test_lines_starting_with_dots_keep_their_dkim_signature(gateway, firm, dupont_key,
                                                                  settings):
    # The signature covers the body as written: a single byte lost in unstuffing breaks it.
    body = "Bonjour,\n.Ceci commence par un point.\n..Et ceci par deux.\n.\nFin.\n"
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Points", body=body,
                attachments=[("lettre.pdf", make_pdf(text="Lettre"))])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [p.get_filename() for p in reply.iter_attachments()] == ["lettre-scelle.pdf"]


def _pipelined(port: int, wire: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(wire)
        answer = b""
        while b"\r\n221 " not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        return answer


async def test_a_command_sent_right_after_data_is_answered(gateway, firm, dupont_key):
    message = dupont_key.sign(raw(build(sender="paul@dupont.fr", to=SEAL,
                                        attachments=[("a.pdf", make_pdf())])))
    wire = (b"EHLO client.dupont.fr\r\nMAIL FROM:<paul@dupont.fr>\r\nRCPT TO:<" + SEAL.encode()
            + b">\r\nDATA\r\n")
    body = message.replace(b"\r\n.", b"\r\n..")
    answer = await asyncio.to_thread(_pipelined, gateway.port,
                                     wire + body + b".\r\nQUIT\r\n")
    lines = answer.decode().splitlines()
    assert lines[-2].startswith("250 ") and lines[-1].startswith("221 ")
