"""Behind HAProxy (PARAPHE_SMTP_PROXY_PROTOCOL): the client's address is the one the trusted
proxy's PROXY header gives, for the relay check and the records; a header from another peer,
or no header, closes the connection before the greeting."""

from __future__ import annotations

import asyncio
import smtplib
import socket

import pytest

from mail_gateway.models import InboundMessage
from tests.mail_gateway.mailer import build, pdf_attachments, raw, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing

SEAL = "seal@paraphe.localhost"
RELAY_ID = "mx.dupont-relay.fr"
PASS = (b"Authentication-Results: mx.dupont-relay.fr; spf=pass smtp.mailfrom=dupont.fr; "
        b"dkim=pass header.d=dupont.fr; dmarc=pass (p=reject) header.from=dupont.fr\r\n")


class _ProxiedSMTP(smtplib.SMTP):
    """smtplib, after HAProxy's PROXY v1 line naming `client` as the source."""

    def __init__(self, client: str, *args, **kwargs) -> None:
        self._client = client
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(f"PROXY TCP4 {self._client} 127.0.0.1 40000 25\r\n".encode())
        return sock


def _send_via_proxy(port: int, client: str, data: bytes) -> None:
    with _ProxiedSMTP(client, "127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("paul@dupont.fr", [SEAL], data)


@pytest.fixture
def behind_haproxy(settings):
    settings.smtp_proxy_protocol = True
    settings.trusted_proxies = "127.0.0.1"
    settings.trusted_authserv_ids = RELAY_ID
    settings.trusted_relays = "198.51.100.25"


async def test_the_relay_check_reads_the_address_the_proxy_gives(behind_haproxy, gateway, firm,
                                                                 settings):
    # From the cabinet's relay, through the proxy: its Authentication-Results count.
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Via le relais",
                attachments=[("a.pdf", make_pdf())])
    await asyncio.to_thread(_send_via_proxy, gateway.port, "198.51.100.25", PASS + raw(msg))
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["a-scelle.pdf"]
    record = await InboundMessage.get()
    assert record.auth["method"] == "upstream"
    assert await billing.balance(firm.dupont) == 19
    # The same header from another client through the same proxy is not believed.
    other = build(sender="paul@dupont.fr", to=SEAL, subject="Ailleurs",
                  attachments=[("b.pdf", make_pdf())])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(_send_via_proxy, gateway.port, "203.0.113.9", PASS + raw(other))
    assert refused.value.smtp_code == 550
    assert await billing.balance(firm.dupont) == 19


def _greeting(port: int, first: bytes | None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        if first:
            sock.sendall(first)
        return sock.recv(1024)


async def test_without_a_trusted_proxy_the_connection_is_closed(behind_haproxy, gateway,
                                                                settings):
    # A client that reaches the port directly and speaks SMTP at once: closed, no greeting.
    assert await asyncio.to_thread(_greeting, gateway.port, b"EHLO client.example\r\n") == b""
    # A PROXY header from a peer that is not a trusted proxy: closed as well.
    settings.trusted_proxies = "192.0.2.1"
    header = b"PROXY TCP4 198.51.100.25 127.0.0.1 40000 25\r\n"
    assert await asyncio.to_thread(_greeting, gateway.port, header) == b""
    settings.trusted_proxies = "127.0.0.1"
    assert (await asyncio.to_thread(_greeting, gateway.port, header)).startswith(b"220 ")
