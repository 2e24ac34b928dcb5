"""Test helpers for text messages: send what the core queued, as the dispatcher of `paraphe
serve` would, through the file provider, and read what it wrote."""

from __future__ import annotations

import re

from sms_gateway.providers import read_outbox
from sms_gateway.sender import SmsSender
from tests.dispatching import sms_dispatcher


async def sent_sms(svc) -> list[dict]:
    """Delivers the due SMS notifications to $PARAPHE_HOME/sms; returns every message there,
    oldest first."""
    await sms_dispatcher(svc, SmsSender(svc.settings)).run_once()
    return read_outbox(svc.settings.home / "sms")


async def last_sms_code(svc, to: str | None = None) -> str:
    """The 6-digit code of the last text message (to `to` when given)."""
    messages = await sent_sms(svc)
    if to:
        messages = [m for m in messages if m["to"] == to]
    return re.search(r"\b(\d{6})\b", messages[-1]["text"]).group(1)
