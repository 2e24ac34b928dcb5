"""The SMS provider interface, and the development default that writes files."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from workflows import clock

# What a provider calls with a delivery report: the provider's message id, whether the
# message reached the handset, and the far end's words.
ReceiptHandler = Callable[[str, bool, str], Awaitable[object]]


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, request_id: str | None = None) -> str:
        """Sends `text` to the E.164 number `to`; returns the provider's message id.

        Raises workflows.notifications.DeliveryRefused when the provider refuses for good
        (the number cannot receive SMS); any other exception is a failure to retry."""

    async def close(self) -> None:
        """Lets go of connections (a bound SMPP session)."""


class FileSmsProvider:
    """Writes one JSON file per message into a folder (default: $PARAPHE_HOME/sms).

    What a real gateway would send, a person or a test can read there.
    """

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.folder / name)

    async def send(self, to: str, text: str, request_id: str | None = None) -> str:
        at = clock.now()
        message_id = f"{at.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}"
        data = json.dumps({"id": message_id, "to": to, "text": text, "at": at.isoformat()},
                          ensure_ascii=False).encode()
        await asyncio.get_running_loop().run_in_executor(None, self._write,
                                                         f"{message_id}.json", data)
        return message_id

    async def close(self) -> None:
        return None

    def describe(self) -> str:
        return f"files in {self.folder}"


def read_outbox(folder: Path) -> list[dict]:
    """The messages the file provider wrote, oldest first (for people and tests)."""
    files = sorted(Path(folder).glob("*.json"))
    return [json.loads(p.read_text()) for p in files]

