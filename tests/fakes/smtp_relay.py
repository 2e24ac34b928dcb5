"""A loopback relay stand-in that answers per recipient, as a real MX would (aiosmtpd on the
test's own loop): 550 5.1.1 for unknown mailboxes, a 451 (greylisting) a set number of times,
250 otherwise. It keeps every envelope sender it saw and every message it took."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

from aiosmtpd.smtp import SMTP


class _Handler:
    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.relay.senders.append((envelope.mail_from, address))
        if address in self.relay.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.relay.greylist.get(address, 0) > 0:
            self.relay.greylist[address] -= 1
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.relay.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                    envelope.original_content))
        return "250 2.0.0 OK queued"


class SmtpRelay:
    """`unknown`: addresses answered 550 5.1.1; `greylist`: address → how many 451 first."""

    def __init__(self, *, unknown=(), greylist: dict[str, int] | None = None) -> None:
        self.unknown = set(unknown)
        self.greylist = dict(greylist or {})
        self.senders: list[tuple[str, str]] = []  # (MAIL FROM, RCPT TO) of every RCPT
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> SmtpRelay:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self.server = await loop.create_server(
            lambda: SMTP(handler, hostname="mx.client.test", loop=loop), "127.0.0.1", 0)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def to(self, address: str) -> list:
        """The messages taken for `address`, parsed."""
        return [message_from_bytes(data, policy=policy.default)
                for _sender, rcpts, data in self.messages if address in rcpts]

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()
