"""A loopback SMTP relay that keeps what it receives (aiosmtpd on the test's own loop)."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

from aiosmtpd.smtp import SMTP


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.unknown:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.fail_next > 0:
            self.sink.fail_next -= 1
            return "451 4.3.0 Try again later"
        self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                   envelope.original_content))
        self.sink.received.set()
        return "250 OK"


class SmtpSink:
    """Accepts every message; `fail_next` makes the next N deliveries fail with 451; an
    address in `unknown` is refused for good (550)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.received = asyncio.Event()
        self.fail_next = 0
        self.unknown: set[str] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self.server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.localhost", loop=loop), "127.0.0.1", 0)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def parsed(self, index: int = -1):
        return message_from_bytes(self.messages[index][2], policy=policy.default)

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()
