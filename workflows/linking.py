"""Linking a Telegram account to a person with a one-time code that expires."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from workflows import clock, evidence
from workflows.actors import Actor
from workflows.errors import (
    LinkCodeExpiredError,
    LinkCodeInvalidError,
    TelegramAccountUnknownError,
    TelegramAlreadyLinkedError,
)
from workflows.models import Person
from workflows.transactions import in_transaction

# How long a link code stays usable after it is issued.
LINK_CODE_TTL = timedelta(hours=72)
# Telegram deep links accept up to 64 characters of [A-Za-z0-9_-] after ?start=.
MAX_CODE_LENGTH = 64


@dataclass(frozen=True)
class LinkCode:
    code: str
    expires_at: datetime

    def deep_link(self, bot_username: str) -> str:
        return f"https://t.me/{bot_username}?start={self.code}"


def _expiry(person: Person) -> datetime:
    # Codes written at person creation carry no expiry of their own: they last the TTL from then.
    return person.telegram_link_expires_at or (person.created_at + LINK_CODE_TTL)


async def issue_link_code(person: Person) -> LinkCode:
    """A new one-time code for this person; any earlier code stops working."""
    code = secrets.token_urlsafe(24)
    expires_at = clock.now() + LINK_CODE_TTL
    await Person.filter(id=person.id).update(telegram_link_code=code,
                                             telegram_link_expires_at=expires_at)
    person.telegram_link_code, person.telegram_link_expires_at = code, expires_at
    return LinkCode(code, expires_at)


async def link_code_for(person: Person) -> LinkCode:
    """The person's current code while it is valid, else a fresh one (for `paraphe user show`)."""
    if person.telegram_link_code and _expiry(person) > clock.now():
        return LinkCode(person.telegram_link_code, _expiry(person))
    return await issue_link_code(person)


async def link_offer(person: Person, bot_username: str | None) -> dict:
    """What a person is told about Telegram (JSON-safe): linked already, or a fresh code.

    A person not linked yet gets a new one-time code, which replaces any earlier one,
    and its deep link when the bot's username is known.
    """
    if person.telegram_user_id is not None:
        return {"linked": True}
    code = await issue_link_code(person)
    return {"linked": False, "code": code.code, "start_command": f"/start {code.code}",
            "deep_link": code.deep_link(bot_username) if bot_username else None,
            "expires_at": code.expires_at.isoformat()}


async def link_account(actor: Actor, code: str, telegram_user_id: int, *,
                       username: str | None = None) -> Person:
    """Ties the Telegram account to the person holding `code`, and uses the code up.

    Linking the same account to the same person again is harmless. Raises
    LinkCodeInvalidError (unknown or used code), LinkCodeExpiredError,
    TelegramAlreadyLinkedError (the account belongs to someone else).
    """
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        raise LinkCodeInvalidError("this link code is not valid")
    person = await Person.get_or_none(telegram_link_code=code)
    # The indexed look-up finds the row; the comparison that decides is constant-time.
    if person is None or not hmac.compare_digest(person.telegram_link_code.encode(), code.encode()):
        raise LinkCodeInvalidError("this link code is not valid")
    if _expiry(person) <= clock.now():
        raise LinkCodeExpiredError("this link code has expired")
    holder = await Person.get_or_none(telegram_user_id=telegram_user_id)
    if holder is not None and holder.id != person.id:
        raise TelegramAlreadyLinkedError("this Telegram account is linked to another person")
    try:
        async with in_transaction():
            # The conditional update makes the code one-time even when two taps race.
            used = await Person.filter(id=person.id, telegram_link_code=code).update(
                telegram_link_code=None, telegram_link_expires_at=None,
                telegram_user_id=telegram_user_id)
            if used != 1:
                raise LinkCodeInvalidError("this link code is not valid")
            await evidence.record("telegram.linked", actor, person_id=person.id,
                                  data={"telegram_user_id": telegram_user_id,
                                        "telegram_username": username})
    except IntegrityError:
        raise TelegramAlreadyLinkedError(
            "this Telegram account is linked to another person") from None
    return await Person.get(id=person.id)


async def unlink_account(actor: Actor, telegram_user_id: int) -> Person:
    """Unties the Telegram account from its person. Raises TelegramAccountUnknownError."""
    person = await Person.get_or_none(telegram_user_id=telegram_user_id)
    if person is None:
        raise TelegramAccountUnknownError("no person is linked to this Telegram account")
    async with in_transaction():
        done = await Person.filter(id=person.id, telegram_user_id=telegram_user_id).update(
            telegram_user_id=None)
        if done != 1:
            raise TelegramAccountUnknownError("no person is linked to this Telegram account")
        await evidence.record("telegram.unlinked", actor, person_id=person.id,
                              data={"telegram_user_id": telegram_user_id})
    person.telegram_user_id = None
    return person


async def person_for_telegram(telegram_user_id: int) -> Person | None:
    """The person linked to this Telegram account, if any."""
    return await Person.get_or_none(telegram_user_id=telegram_user_id)
