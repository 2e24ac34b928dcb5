"""The ONE place that turns domain errors into chat messages (templates/chat/errors/<code>)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update

from bot import replies
from bot.identity import language_of
from paraphe.templating import TEMPLATES_DIR
from workflows.errors import ParapheError
from workflows.linking import person_for_telegram

log = logging.getLogger("paraphe.bot")
router = Router(name=__name__)


# The bot's own error (in the core's family, so it reads like the others in the chat).
class ChatButtonStaleError(ParapheError):
    """This button belongs to an earlier message and no longer applies."""
    code, kind = "button_stale", "gone"


def error_text(error: ParapheError, language: str) -> str:
    """The message a person reads for this error, in their language."""
    name = f"errors/{error.code}"
    if not (TEMPLATES_DIR / "chat" / f"{name}.j2").exists():
        name = "errors/generic"
    return replies.text(name, language, code=error.code, message=error.message,
                        details=error.details)


def _chat_and_user(update: Update):
    if update.message is not None:
        return update.message.chat.id, update.message.from_user
    if update.callback_query is not None:
        query = update.callback_query
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        return chat_id, query.from_user
    return None, None


async def tell(bot: Bot, update: Update, body: str) -> None:
    """Shows `body` where the update came from; a tapped button gets its spinner stopped too."""
    chat_id, _ = _chat_and_user(update)
    if update.callback_query is not None:
        try:
            await bot.answer_callback_query(update.callback_query.id, text=body[:190])
        except TelegramAPIError:  # Already answered, or too old: the chat message still goes.
            pass
    if chat_id is not None:
        await bot.send_message(chat_id, body)


@router.errors(ExceptionTypeFilter(ParapheError))
async def domain_error(event: ErrorEvent, bot: Bot) -> None:
    _, user = _chat_and_user(event.update)
    person = await person_for_telegram(user.id) if user is not None else None
    await tell(bot, event.update, error_text(event.exception, language_of(person, user)))


@router.errors()
async def unexpected_error(event: ErrorEvent, bot: Bot) -> None:
    log.error("update %s failed", event.update.update_id, exc_info=event.exception)
    _, user = _chat_and_user(event.update)
    person = await person_for_telegram(user.id) if user is not None else None
    await tell(bot, event.update, replies.text("errors/internal", language_of(person, user)))
