"""What either spool (files or PostgreSQL rows, mail_gateway.spools) says of an entry."""

from __future__ import annotations

from dataclasses import dataclass


class Gone(Exception):
    """The entry was finished, dropped or set aside meanwhile."""


@dataclass
class Entry:
    """One entry as `paraphe spool` shows it."""

    id: str
    state: str  # pending | quarantined
    envelope: dict
    size: int
    reason: dict | None
    raw: bytes | None = None
