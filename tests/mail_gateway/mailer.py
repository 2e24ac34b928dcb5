"""Building test messages, sending them with smtplib, reading the outbox Maildir."""

from __future__ import annotations

import asyncio
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, UTC
from pathlib import Path


def build(*, sender: str, to: str, subject: str = "Documents", body: str = "Bonjour,\n",
          attachments=(), message_id: str | None = None,
          headers: dict | None = None) -> EmailMessage:
    """A message like a mail client's; attachments are (filename, bytes[, mime type])."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2].strip(">"))
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for item in attachments:
        filename, data = item[0], item[1]
        maintype, subtype = (item[2] if len(item) > 2 else "application/pdf").split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def _send(port: int, data: bytes, mail_from: str, rcpts: list[str]) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail(mail_from, rcpts, data)


async def send(port: int, data: bytes, *, mail_from: str, rcpts: list[str] | str) -> dict:
    """smtplib in a thread (the gateway runs on this loop); raises smtplib's SMTP*Error."""
    rcpts = [rcpts] if isinstance(rcpts, str) else rcpts
    return await asyncio.to_thread(_send, port, data, mail_from, rcpts)


def outbox(home: Path) -> list:
    """The replies in the Maildir, oldest first, parsed."""
    root = Path(home) / "outbox"
    paths = sorted([*(root / "new").glob("*"), *(root / "cur").glob("*")], key=lambda p: p.name)
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]


async def wait_outbox(home: Path, count: int, *, timeout: float = 60.0) -> list:
    """Waits until the outbox holds `count` messages (the timeout only stops a broken test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = outbox(home)
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


def body_text(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def pdf_attachments(msg) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in msg.iter_attachments()]
