"""A PDF sent to the bot: buttons Seal / Start a collection / Verify, checked at the tap."""

from __future__ import annotations

from datetime import timedelta

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.chat_action import ChatActionSender

from bot import replies
from bot.callbacks import DocAction
from bot.errors import ChatButtonStaleError
from bot.files import download
from bot.models import TelegramUpload
from bot.routers.collect import begin
from workflows import clock, delegations, people
from workflows.actors import Actor
from workflows.collections import require_start
from workflows.errors import DocumentNotPdfError, DocumentTooLargeError
from workflows.models import Cabinet, Person
from workflows.sealing import seal_document
from workflows.services import Services
from workflows.verification import verify_document

router = Router(name=__name__)

# Buttons under a PDF stay usable this long; after that the person sends the file again.
UPLOAD_TTL = timedelta(hours=24)


def _is_pdf(message: Message) -> bool:
    doc = message.document
    return (doc.mime_type == "application/pdf"
            or (doc.file_name or "").lower().endswith(".pdf"))


@router.message(Command("seal", "verify"))
async def how_to(message: Message, lang: str) -> None:
    await message.answer(replies.text("documents/send_a_pdf", lang))


@router.message(F.document)
async def pdf_received(message: Message, person: Person, lang: str, svc: Services) -> None:
    doc = message.document
    if not _is_pdf(message):
        raise DocumentNotPdfError("the file is not a PDF")
    if doc.file_size and doc.file_size > svc.settings.max_document_bytes:
        raise DocumentTooLargeError("the file is over the 10 MB limit")
    upload = await TelegramUpload.create(
        person=person, chat_id=message.chat.id, file_id=doc.file_id,
        filename=(doc.file_name or "document.pdf")[:255], size=doc.file_size or 0,
        created_at=clock.now())
    cabinets = [m.cabinet for m in await people.memberships_of(person)]
    rows = []
    for cab in cabinets if len(cabinets) > 1 else [None]:
        suffix = f" · {cab.slug}" if cab is not None else ""
        cab_id = cab.id if cab is not None else 0
        rows.append([
            (replies.text("documents/button_seal", lang) + suffix,
             DocAction(action="seal", upload=upload.id, cabinet=cab_id).pack()),
            (replies.text("documents/button_collect", lang) + suffix,
             DocAction(action="collect", upload=upload.id, cabinet=cab_id).pack())])
    rows.append([(replies.text("documents/button_verify", lang),
                  DocAction(action="verify", upload=upload.id).pack())])
    await message.answer(replies.text("documents/choose", lang, filename=upload.filename),
                         reply_markup=replies.keyboard(rows))


async def _upload_for(person: Person, upload_id: int) -> TelegramUpload:
    upload = await TelegramUpload.get_or_none(id=upload_id, person_id=person.id)
    if upload is None or upload.done_at is not None or \
            upload.created_at + UPLOAD_TTL <= clock.now():
        raise ChatButtonStaleError("this button no longer applies")
    return upload


async def _claim(upload: TelegramUpload, outcome: str) -> None:
    # One tap wins; a second quick tap on the same message finds it taken.
    won = await TelegramUpload.filter(id=upload.id, done_at=None).update(
        done_at=clock.now(), outcome=outcome)
    if won != 1:
        raise ChatButtonStaleError("this button no longer applies")


async def _release(upload: TelegramUpload) -> None:
    await TelegramUpload.filter(id=upload.id).update(done_at=None, outcome="")


async def _cabinet_slug(cabinet_id: int) -> str | None:
    if not cabinet_id:
        return None
    cab = await Cabinet.get_or_none(id=cabinet_id)
    if cab is None:
        raise ChatButtonStaleError("this button no longer applies")
    return cab.slug


async def _drop_buttons(query: CallbackQuery) -> None:
    if query.message is None:
        return
    try:
        await query.message.edit_reply_markup(reply_markup=None)
    except TelegramAPIError:  # The message is too old to edit: the buttons are stale anyway.
        pass


@router.callback_query(DocAction.filter(F.action == "seal"))
async def seal(query: CallbackQuery, callback_data: DocAction, person: Person, actor: Actor,
               lang: str, bot: Bot, svc: Services) -> None:
    upload = await _upload_for(person, callback_data.upload)
    slug = await _cabinet_slug(callback_data.cabinet)
    # The delegation is checked at the moment of the tap (and again inside the use case).
    cabinet = await people.resolve_cabinet(person, slug)
    await delegations.require(person, cabinet, "seal")
    await _claim(upload, "seal")
    await query.answer(replies.text("documents/sealing", lang))
    try:
        async with ChatActionSender.upload_document(chat_id=upload.chat_id, bot=bot):
            data = await download(bot, upload.file_id)
            result = await seal_document(svc, actor, cabinet=cabinet.slug,
                                         filename=upload.filename, data=data,
                                         idempotency_key=f"telegram:upload:{upload.id}:seal")
            sealed = await svc.documents.read(result.sha256)
            await bot.send_document(
                upload.chat_id, BufferedInputFile(sealed, filename=result.filename),
                caption=replies.text("documents/sealed", lang, result=result))
    except BaseException:
        await _release(upload)
        raise
    await _drop_buttons(query)


@router.callback_query(DocAction.filter(F.action == "verify"))
async def verify(query: CallbackQuery, callback_data: DocAction, person: Person, lang: str,
                 bot: Bot, svc: Services) -> None:
    upload = await _upload_for(person, callback_data.upload)
    await query.answer()
    async with ChatActionSender.typing(chat_id=upload.chat_id, bot=bot):
        data = await download(bot, upload.file_id)
        report = await verify_document(svc, data, upload.filename)
    await bot.send_message(upload.chat_id, replies.text("documents/verified", lang,
                                                        report=report, filename=upload.filename))


@router.callback_query(DocAction.filter(F.action == "collect"))
async def collect(query: CallbackQuery, callback_data: DocAction, person: Person, lang: str,
                  bot: Bot, state: FSMContext) -> None:
    upload = await _upload_for(person, callback_data.upload)
    slug = await _cabinet_slug(callback_data.cabinet)
    cabinet = await people.resolve_cabinet(person, slug)
    await require_start(person, cabinet)
    await _claim(upload, "collect")
    await query.answer()
    await _drop_buttons(query)
    await begin(bot, upload.chat_id, state, lang, cabinet=cabinet.slug,
                documents=[(upload.filename, upload.file_id)])


# Last of all routers: anything else a linked person writes gets a pointer to /help.
@router.message()
async def fallback(message: Message, lang: str) -> None:
    await message.answer(replies.text("account/fallback", lang))
