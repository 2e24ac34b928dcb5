"""/terms: an expert reads the current terms of use and accepts them per cabinet with a button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import replies
from bot.callbacks import TermsAction
from workflows import people, terms
from workflows.actors import Actor
from workflows.models import Person
from workflows.services import Services

router = Router(name=__name__)


@router.message(Command("terms"))
async def terms_command(message: Message, person: Person, lang: str, svc: Services) -> None:
    version = terms.current_version(svc.settings)
    memberships = await people.memberships_of(person)
    if not any(m.role == "expert" for m in memberships):
        await message.answer(replies.text("terms/not_expert", lang, version=version,
                                          cabinets=[m.cabinet.slug for m in memberships]))
        return
    pending = await terms.pending_for(person, svc.settings)
    if not pending:
        await message.answer(replies.text("terms/all_accepted", lang, version=version))
        return
    await message.answer(replies.text("terms/text", lang, version=version,
                                      text=terms.text(svc.settings, version, lang)))
    for cabinet in pending:
        cab = next(m.cabinet for m in memberships if m.cabinet.slug == cabinet.slug)
        await message.answer(
            replies.text("terms/ask", lang, cabinet=cabinet, version=version),
            reply_markup=replies.keyboard([[(
                replies.text("terms/button_accept", lang),
                TermsAction(action="accept", cabinet=cab.id, version=version).pack())]]))


@router.callback_query(TermsAction.filter(F.action == "accept"))
async def accept_button(query: CallbackQuery, callback_data: TermsAction, actor: Actor,
                        lang: str, svc: Services) -> None:
    done = await terms.accept_terms(svc, actor, callback_data.cabinet, callback_data.version)
    body = replies.text("terms/accepted", lang, acceptance=done)
    await query.answer(body[:190])
    if query.message is not None:  # The button goes; the message says what became of it.
        try:
            await query.message.edit_text(f"{query.message.text or ''}\n\n{body}".strip(),
                                          reply_markup=None)
        except TelegramAPIError:
            pass
