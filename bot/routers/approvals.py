"""Approving or rejecting a collection prepared by a `prepare` holder: buttons and commands."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot import replies
from bot.callbacks import ApprovalAction
from bot.errors import ChatButtonStaleError
from bot.routers._args import collection_id, rest
from workflows.actors import Actor
from workflows.collections import approve_collection, get_collection, reject_collection
from workflows.services import Services

router = Router(name=__name__)


class Rejecting(StatesGroup):
    reason = State()


@router.message(Command("approve"))
async def approve_command(message: Message, command: CommandObject, actor: Actor, lang: str,
                          svc: Services) -> None:
    number = collection_id(command)
    if number is None:
        await message.answer(replies.text("approvals/usage_approve", lang))
        return
    collection = await approve_collection(svc, actor, number)
    await message.answer(replies.text("approvals/approved", lang, collection=collection))


@router.message(Command("reject"))
async def reject_command(message: Message, command: CommandObject, actor: Actor, lang: str,
                         svc: Services) -> None:
    number, reason = collection_id(command), rest(command)
    if number is None or not reason:
        await message.answer(replies.text("approvals/usage_reject", lang))
        return
    collection = await reject_collection(svc, actor, number, reason)
    await message.answer(replies.text("approvals/rejected", lang, collection=collection))


async def _settle(query: CallbackQuery, body: str) -> None:
    # The request message keeps its text, loses its buttons and says what became of it.
    if query.message is None:
        return
    try:
        await query.message.edit_text(f"{query.message.text or ''}\n\n{body}".strip(),
                                      reply_markup=None)
    except TelegramAPIError:
        pass


@router.callback_query(ApprovalAction.filter(F.action == "approve"))
async def approve_button(query: CallbackQuery, callback_data: ApprovalAction, actor: Actor,
                         lang: str, svc: Services) -> None:
    collection = await approve_collection(svc, actor, callback_data.collection)
    body = replies.text("approvals/approved", lang, collection=collection)
    await query.answer(body[:190])
    await _settle(query, body)


@router.callback_query(ApprovalAction.filter(F.action == "reject"))
async def reject_button(query: CallbackQuery, callback_data: ApprovalAction, actor: Actor,
                        lang: str, state: FSMContext) -> None:

    # Visibility and state are checked now, so a stale button is answered at once.
    collection = await get_collection(actor, callback_data.collection)
    if collection.state != "awaiting_approval":
        raise ChatButtonStaleError("this collection no longer awaits approval")
    await state.set_state(Rejecting.reason)
    await state.update_data(collection=callback_data.collection,
                            request_message=query.message.message_id if query.message else None)
    await query.answer()
    await query.bot.send_message(query.from_user.id,
                                 replies.text("approvals/ask_reason", lang,
                                              number=callback_data.collection))


@router.message(Rejecting.reason, F.text, ~F.text.startswith("/"))
async def reject_reason(message: Message, actor: Actor, lang: str, svc: Services, bot: Bot,
                        state: FSMContext) -> None:
    data = await state.get_data()
    await state.clear()
    collection = await reject_collection(svc, actor, data["collection"], message.text.strip())
    body = replies.text("approvals/rejected", lang, collection=collection)
    await message.answer(body)
    if data.get("request_message"):
        try:
            await bot.edit_message_reply_markup(chat_id=message.chat.id,
                                                message_id=data["request_message"],
                                                reply_markup=None)
        except TelegramAPIError:
            pass
