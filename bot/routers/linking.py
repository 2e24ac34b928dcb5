"""/start <code> links a Telegram account to a person; /unlink; unknown accounts get one answer."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot import replies
from workflows import linking
from workflows.actors import Actor
from workflows.models import Person

router = Router(name=__name__)


@router.message(CommandStart())
async def start(message: Message, command: CommandObject, person: Person | None, actor: Actor,
                lang: str) -> None:
    if not command.args:
        if person is None:
            await message.answer(replies.text("account/unknown", lang))
        else:
            await message.answer(replies.text("account/welcome_back", lang, person=person))
        return
    user = message.from_user
    linked = await linking.link_account(actor, command.args, user.id, username=user.username)
    await message.answer(replies.text("account/linked", linked.language, person=linked))


@router.message(Command("unlink"))
async def unlink(message: Message, person: Person | None, actor: Actor, lang: str) -> None:
    await linking.unlink_account(actor, message.from_user.id)
    await message.answer(replies.text("account/unlinked", lang, person=person))


# Everything else from an account nobody linked gets the same clear answer, and nothing else.
@router.message(lambda message, person: person is None)
async def unknown_message(message: Message, lang: str) -> None:
    await message.answer(replies.text("account/unknown", lang))


@router.callback_query(lambda query, person: person is None)
async def unknown_tap(query: CallbackQuery, lang: str) -> None:
    await query.answer(replies.text("account/unknown", lang)[:190], show_alert=True)
