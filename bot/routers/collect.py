"""/collect: a short conversation (documents, signers, order, message) that creates a collection."""

from __future__ import annotations

from dataclasses import asdict

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.chat_action import ChatActionSender

from bot import replies
from bot.callbacks import CollectAction
from bot.errors import ChatButtonStaleError
from bot.files import download
from workflows import people
from workflows.actors import Actor
from workflows.collections import SignerSpec, create_collection, require_start
from workflows.collections import parse_signers as parse_signer_lines
from workflows.errors import DocumentNotPdfError
from workflows.models import Person
from workflows.services import Services

router = Router(name=__name__)


class Collecting(StatesGroup):
    documents = State()
    signers = State()
    order = State()
    message = State()
    confirm = State()


def parse_signers(body: str) -> tuple[list[dict], list[str]]:
    """Signers from the typed lines (the core's grammar, workflows/collections/lines.py), as
    the conversation keeps them, and the lines that could not be read."""
    signers, unreadable = parse_signer_lines(body)
    return [asdict(s) for s in signers], unreadable


async def begin(bot: Bot, chat_id: int, state: FSMContext, lang: str, *, cabinet: str,
                documents: list[tuple[str, str]]) -> None:
    """Starts the conversation for `cabinet`, with documents (name, Telegram file_id) so far."""
    await state.set_state(Collecting.documents)
    await state.set_data({"cabinet": cabinet, "documents": [list(d) for d in documents]})
    await bot.send_message(chat_id, replies.text("collect/ask_documents", lang,
                                                 cabinet=cabinet, documents=documents))


@router.message(Command("collect"))
async def collect(message: Message, command: CommandObject, person: Person, lang: str,
                  bot: Bot, state: FSMContext) -> None:
    cabinet = await people.resolve_cabinet(person, (command.args or "").strip() or None)
    await require_start(person, cabinet)
    await begin(bot, message.chat.id, state, lang, cabinet=cabinet.slug, documents=[])


@router.message(Command("abort", "abandon"), StateFilter(Collecting))
async def abort(message: Message, lang: str, state: FSMContext) -> None:
    await state.clear()
    await message.answer(replies.text("collect/aborted", lang))


@router.message(Collecting.documents, F.document)
async def add_document(message: Message, lang: str, state: FSMContext, svc: Services) -> None:
    doc = message.document
    if doc.mime_type != "application/pdf" and not (doc.file_name or "").lower().endswith(".pdf"):
        raise DocumentNotPdfError("the file is not a PDF")
    data = await state.get_data()
    data["documents"].append([doc.file_name or "document.pdf", doc.file_id])
    await state.update_data(documents=data["documents"])
    await message.answer(replies.text("collect/document_added", lang,
                                      documents=data["documents"]))


@router.message(Collecting.documents, Command("done", "fini"))
async def documents_done(message: Message, lang: str, state: FSMContext) -> None:
    if not (await state.get_data())["documents"]:
        await message.answer(replies.text("collect/ask_documents", lang, documents=[],
                                          cabinet=(await state.get_data())["cabinet"]))
        return
    await state.set_state(Collecting.signers)
    await message.answer(replies.text("collect/ask_signers", lang))


@router.message(Collecting.signers, F.text, ~F.text.startswith("/"))
async def signers_typed(message: Message, lang: str, state: FSMContext) -> None:
    signers, unreadable = parse_signers(message.text)
    if unreadable or not signers:
        await message.answer(replies.text("collect/signers_unreadable", lang,
                                          unreadable=unreadable))
        return
    await state.update_data(signers=signers)
    await state.set_state(Collecting.order)
    await message.answer(replies.text("collect/ask_order", lang), reply_markup=replies.keyboard([[
        (replies.text("collect/button_ordered", lang), CollectAction(action="ordered").pack()),
        (replies.text("collect/button_parallel", lang), CollectAction(action="parallel").pack()),
    ]]))


@router.callback_query(CollectAction.filter(F.action.in_({"ordered", "parallel"})))
async def order_chosen(query: CallbackQuery, callback_data: CollectAction, lang: str,
                       state: FSMContext) -> None:
    if await state.get_state() != Collecting.order.state:
        raise ChatButtonStaleError("this button no longer applies")
    await state.update_data(ordered=callback_data.action == "ordered")
    await state.set_state(Collecting.message)
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    await query.bot.send_message(query.from_user.id, replies.text("collect/ask_message", lang))


async def _summary(bot: Bot, chat_id: int, lang: str, state: FSMContext) -> None:
    await state.set_state(Collecting.confirm)
    await bot.send_message(chat_id, replies.text("collect/summary", lang,
                                                 **await state.get_data()),
                           reply_markup=replies.keyboard([[
                               (replies.text("collect/button_confirm", lang),
                                CollectAction(action="confirm").pack()),
                               (replies.text("collect/button_abort", lang),
                                CollectAction(action="abort").pack())]]))


@router.message(Collecting.message, Command("skip", "passer"))
async def message_skipped(message: Message, lang: str, bot: Bot, state: FSMContext) -> None:
    await state.update_data(message="")
    await _summary(bot, message.chat.id, lang, state)


@router.message(Collecting.message, F.text, ~F.text.startswith("/"))
async def message_typed(message: Message, lang: str, bot: Bot, state: FSMContext) -> None:
    await state.update_data(message=message.text.strip())
    await _summary(bot, message.chat.id, lang, state)


@router.callback_query(CollectAction.filter(F.action == "abort"))
async def abort_button(query: CallbackQuery, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    await query.bot.send_message(query.from_user.id, replies.text("collect/aborted", lang))


@router.callback_query(CollectAction.filter(F.action == "confirm"))
async def confirm(query: CallbackQuery, actor: Actor, lang: str, bot: Bot, svc: Services,
                  state: FSMContext) -> None:
    if await state.get_state() != Collecting.confirm.state:
        raise ChatButtonStaleError("this button no longer applies")
    data = await state.get_data()
    # Clearing first makes a second tap on Confirm stale instead of a second collection.
    await state.clear()
    await query.answer()
    try:
        async with ChatActionSender.typing(chat_id=query.from_user.id, bot=bot):
            documents = [(name, await download(bot, file_id))
                         for name, file_id in data["documents"]]
            collection = await create_collection(
                svc, actor, cabinet=data["cabinet"], documents=documents,
                signers=[SignerSpec(s["name"], s["email"], s["phone"]) for s in data["signers"]],
                ordered=data.get("ordered", False), message=data.get("message", ""),
                title=data["documents"][0][0])
    except BaseException:
        # Nothing was created: the person may confirm again.
        await state.set_state(Collecting.confirm)
        await state.set_data(data)
        raise
    await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(query.from_user.id,
                           replies.text("collect/created", lang, collection=collection))
