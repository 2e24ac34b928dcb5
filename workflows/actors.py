"""Who acts, through which channel, and what the channel knows of the request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNELS = ("mail", "telegram", "web", "api", "cli", "system")


@dataclass(frozen=True)
class Actor:
    """The author of a use-case call.

    ``person_id`` is None for the operator at the command line and for the system
    itself (sweeps). ``origin`` carries what the channel knows and the evidence log
    keeps: Message-ID and authentication result for mail, Telegram user id, IP
    address and user agent for the web.
    """

    person_id: int | None
    channel: str
    origin: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def operator(cls, **origin: Any) -> Actor:
        return cls(person_id=None, channel="cli", origin=dict(origin))

    @classmethod
    def system(cls, **origin: Any) -> Actor:
        return cls(person_id=None, channel="system", origin=dict(origin))
