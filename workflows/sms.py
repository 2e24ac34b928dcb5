"""SMS providers: an interface, and the embedded default that writes each message to
PARAPHE_HOME/sms."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path
from typing import Protocol

from workflows import clock
from workflows.ports import CoreSettings


class SmsProvider(Protocol):
    async def send(self, to: str, text: str) -> str:
        """Sends `text` to the mobile number `to`; returns the provider's message id."""


class FileSmsProvider:
    """Writes one JSON file per message into a folder (default: settings.home/sms).

    What a real gateway would send, a person or a test can read there.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.folder / name)

    async def send(self, to: str, text: str) -> str:
        at = clock.now()
        message_id = f"{at.strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}"
        data = json.dumps({"id": message_id, "to": to, "text": text, "at": at.isoformat()},
                          ensure_ascii=False).encode()
        await asyncio.get_running_loop().run_in_executor(None, self._write,
                                                         f"{message_id}.json", data)
        return message_id


_providers: dict[str, SmsProvider] = {}


def provider_for(settings: CoreSettings) -> SmsProvider:
    """The provider of this deployment; tests and deployments may `install` another."""
    key = str(settings.home)
    if key not in _providers:
        _providers[key] = FileSmsProvider(settings.home / "sms")
    return _providers[key]


def install(settings: CoreSettings, provider: SmsProvider) -> None:
    _providers[str(settings.home)] = provider


def read_outbox(folder: Path) -> list[dict]:
    """The messages the file provider wrote, oldest first (for people and tests)."""
    files = sorted(Path(folder).glob("*.json"))
    return [json.loads(p.read_text()) for p in files]
