"""Canaries of compat.aiosmtpd: the gateway's own DATA reader and SIZE refusal in a session."""

from __future__ import annotations

import asyncio
import smtplib

from mail_gateway import smtp_data
from tests.mail_gateway.mailer import build, raw, send

SEAL = "seal@paraphe.localhost"


async def test_data_is_read_by_the_gateway_s_reader(gateway, monkeypatch):
    """aiosmtpd.data: GatewaySMTP.smtp_DATA (on aiosmtpd's private stream) reads DATA."""
    reads = []
    original = smtp_data.read_data

    async def read_data(*args):
        reads.append(args)
        return await original(*args)

    monkeypatch.setattr(smtp_data, "read_data", read_data)
    message = build(sender="nobody@unknown.test", to=SEAL, subject="Bonjour")
    try:
        await send(gateway.port, raw(message), mail_from="nobody@unknown.test", rcpts=SEAL)
    except smtplib.SMTPException:
        pass  # Whatever the answer: the point is who read the message.
    assert len(reads) == 1


def _mail_with_size(port: int, size: int):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        return client.mail("paul@dupont.fr", [f"SIZE={size}"])


async def test_a_declared_size_over_the_limit_gets_the_gateway_s_text(gateway):
    """aiosmtpd.size_text: aiosmtpd's refusal, recognised by its text, is replaced."""
    code, text = await asyncio.to_thread(_mail_with_size, gateway.port, 50 * 1024 * 1024)
    assert code == 552
    assert text.startswith(b"5.3.4 Le message depasse la taille maximale")
