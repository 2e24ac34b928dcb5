"""The same Telegram update delivered twice acts once: a unique row per (bot, update_id)."""

from __future__ import annotations

import logging
from typing import Any
from collections.abc import Awaitable, Callable

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from tortoise.exceptions import IntegrityError

from bot.models import TelegramUpdate
from workflows import clock

log = logging.getLogger("paraphe.bot")


class OnceMiddleware(BaseMiddleware):
    """Outer update middleware: claims the update id before any handler runs."""

    async def __call__(self, handler: Callable[[TelegramObject, dict], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot = data["bot"]
        try:
            await TelegramUpdate.create(bot_id=bot.id, update_id=event.update_id,
                                        kind=event.event_type or "", received_at=clock.now())
        except IntegrityError:
            log.info("update %s already handled; skipped", event.update_id)
            return None
        return await handler(event, data)
