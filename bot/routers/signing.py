"""/sign <id>: an internal signer signs with their personal certificate, confirmed by a code."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender

from bot import replies
from bot.routers._args import collection_id
from workflows.actors import Actor
from workflows.collections import request_signature_code, sign_internal
from workflows.services import Services

router = Router(name=__name__)


class Signing(StatesGroup):
    code = State()


@router.message(Command("sign"))
async def sign(message: Message, command: CommandObject, actor: Actor, lang: str,
               svc: Services, state: FSMContext) -> None:
    number = collection_id(command)
    if number is None:
        await message.answer(replies.text("signing/usage", lang))
        return
    sent_by = await request_signature_code(svc, actor, number)
    await state.set_state(Signing.code)
    await state.update_data(collection=number)
    await message.answer(replies.text("signing/code_sent", lang, number=number,
                                      channel=sent_by if isinstance(sent_by, str) else "mail"))


@router.message(Signing.code, F.text, ~F.text.startswith("/"))
async def code_typed(message: Message, actor: Actor, lang: str, svc: Services, bot: Bot,
                     state: FSMContext) -> None:
    number = (await state.get_data())["collection"]
    # A wrong code raises: the errors router says so and the conversation waits for another.
    async with ChatActionSender.upload_document(chat_id=message.chat.id, bot=bot):
        await sign_internal(svc, actor, number, message.text.strip())
    await state.clear()
    await message.answer(replies.text("signing/signed", lang, number=number))
