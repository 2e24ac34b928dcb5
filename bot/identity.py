"""Who is writing: the Telegram user, the person linked to it, and the Actor for the core."""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from workflows.actors import Actor
from workflows.linking import person_for_telegram
from workflows.models import Person


def language_of(person: Person | None, user: User | None) -> str:
    """The person's language; for an unknown account, Telegram's hint (French by default)."""
    if person is not None:
        return person.language
    if user is not None and (user.language_code or "").startswith("en"):
        return "en"
    return "fr"


def actor_for(person: Person | None, user: User | None, update_id: int | None) -> Actor:
    origin: dict[str, Any] = {"update_id": update_id}
    if user is not None:
        origin["telegram_user_id"] = user.id
        if user.username:
            origin["telegram_username"] = user.username
    return Actor(person_id=person.id if person else None, channel="telegram", origin=origin)


class IdentityMiddleware(BaseMiddleware):
    """Puts `person` (or None), `actor` and `lang` into every handler's data."""

    async def __call__(self, handler: Callable[[TelegramObject, dict], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        person = await person_for_telegram(user.id) if user is not None else None
        update = data.get("event_update")
        data["person"] = person
        data["lang"] = language_of(person, user)
        data["actor"] = actor_for(person, user, update.update_id if update else None)
        return await handler(event, data)
