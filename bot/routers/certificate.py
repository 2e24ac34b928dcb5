"""/certificate: the person's personal certificate, and its revocation confirmed by a code
sent out of band (SMS to the checked mobile, else mail) and typed here."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.types import CallbackQuery, Message

from bot import replies
from bot.callbacks import CertificateAction
from workflows import personal_certificates as certificates
from workflows.actors import Actor
from workflows.models import Person
from workflows.services import Services

router = Router(name=__name__)


@router.message(Command("certificate"))
async def show(message: Message, person: Person, lang: str) -> None:
    details = await certificates.certificate_details(person)
    markup = None
    if details.status == "valid":
        markup = replies.keyboard([[(replies.text("certificate/button_revoke", lang),
                                     CertificateAction(action="revoke").pack())]])
    await message.answer(replies.text("certificate/details", lang, cert=details),
                         reply_markup=markup)


@router.callback_query(CertificateAction.filter(F.action == "revoke"))
async def revoke(query: CallbackQuery, actor: Actor, lang: str, svc: Services) -> None:
    channel = await certificates.request_revocation(svc, actor)
    await query.answer()
    if query.message is not None:
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(replies.text("certificate/code_sent", lang, channel=channel))


async def _code_waiting(message: Message, person: Person | None) -> bool:
    return person is not None and await certificates.revocation_pending(person.id)


@router.message(StateFilter(None), F.text, ~F.text.startswith("/"), _code_waiting)
async def code_typed(message: Message, actor: Actor, lang: str, svc: Services) -> None:
    cert = await certificates.confirm_revocation(svc, actor, message.text.strip())
    await message.answer(replies.text("certificate/revoked", lang, serial=cert.serial))
