"""/register: the registration steps with buttons, the mobile and its code typed, the identity
document sent as a file or a photo. Where the person stands lives in the database (their
Registration row), so a restart of the bot, or a day's pause, resumes at the saved step."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.chat_action import ChatActionSender

from bot import replies
from bot.callbacks import RegistrationAction
from bot.files import download
from paraphe import templating
from paraphe.settings import Settings
from workflows import identity_files, registration
from workflows.actors import Actor
from workflows.models import Person
from workflows.models.registration import DOCUMENT_TYPES
from workflows.registration import Progress
from workflows.services import Services

router = Router(name=__name__)


def prompt(progress: Progress, lang: str, person: Person, identity: dict | None = None,
           cabinet=None, *, settings: Settings) -> tuple[str, object]:
    """The text and buttons that ask for the next step (``cabinet``: whose SIREN it asks)."""
    step, reg = progress.step, progress.registration
    buttons = None
    extra: dict = {"cabinet": cabinet}
    if step == "identity":
        extra["identity"] = identity
        buttons = [[("confirm", "")]]
    elif step == "document_type":
        buttons = [[("type", t)] for t in DOCUMENT_TYPES]
    elif step == "agreement":
        extra["agreement"] = registration.agreement_text(templating, lang)[0]
        buttons = [[("agree", "")]]
    elif step == "policies":
        extra["texts"] = {k: v[0] for k, v in registration.policy_texts(
            templating, settings, lang).items()}
        buttons = [[("accept", "")]]
    elif step == "submit":
        buttons = [[("submit", "")]]
    text = replies.text(f"registration/step_{step}", lang, reg=reg, person=person,
                        progress=progress, **extra)
    markup = None
    if buttons:
        markup = replies.keyboard([[
            (replies.text(f"registration/button_{action}", lang, value=value),
             RegistrationAction(action=action, value=value).pack()) for action, value in row]
            for row in buttons])
    return text, markup


async def _ask_next(message: Message, progress: Progress, person: Person, lang: str,
                    svc: Services, done: str | None = None) -> None:
    identity = await registration.identity_of(person) if progress.step == "identity" else None
    cabinet = await registration.cabinet_asking_siren(person.id) \
        if progress.step == "siren" else None
    text, markup = prompt(progress, lang, person, identity, cabinet, settings=svc.settings)
    if done:
        text = replies.text(f"registration/{done}", lang, progress=progress) + "\n\n" + text
    await message.answer(text, reply_markup=markup)


@router.message(Command("register", magic=F.args.in_({"web", "lien", "link"})))
async def register_on_the_web(message: Message, person: Person, actor: Actor, lang: str,
                              svc: Services) -> None:
    """/register web: the personal link to the same steps on a web page, sent by mail."""
    from workflows import registration_links

    await registration_links.send_registration_link(svc, actor, person)
    await message.answer(replies.text("registration/link_sent", lang, email=person.email))


@router.message(Command("register"))
async def register(message: Message, person: Person, actor: Actor, lang: str,
                   svc: Services) -> None:
    progress = await registration.start_or_resume(svc, actor)
    await _ask_next(message, progress, person, lang, svc)


@router.callback_query(RegistrationAction.filter())
async def tapped(query: CallbackQuery, callback_data: RegistrationAction, person: Person,
                 actor: Actor, lang: str, svc: Services) -> None:
    action = callback_data.action
    if action == "confirm":
        progress = await registration.confirm_identity(svc, actor)
    elif action == "type":
        progress = await registration.choose_document_type(svc, actor, callback_data.value)
    elif action == "agree":
        progress = await registration.sign_agreement(svc, actor)
    elif action == "accept":
        progress = await registration.accept_policies(svc, actor)
    else:
        progress = await registration.submit(svc, actor)
    await query.answer()
    if query.message is not None:
        await query.message.edit_reply_markup(reply_markup=None)
        await _ask_next(query.message, progress, person, lang, svc)


async def _waiting_for(message: Message, person: Person | None, step_set: tuple[str, ...]):
    if person is None:
        return False
    step = await registration.waiting_for(person.id)
    return {"step": step} if step in step_set else False


async def _typed_answer(message: Message, person: Person | None):
    return await _waiting_for(message, person, ("name", "siren", "mobile", "mobile_code"))


async def _identity_file(message: Message, person: Person | None):
    return await _waiting_for(message, person, ("front", "back"))


# Only outside other conversations (a /collect in progress keeps its own messages).
@router.message(StateFilter(None), F.text, ~F.text.startswith("/"), _typed_answer)
async def typed(message: Message, step: str, person: Person, actor: Actor, lang: str,
                svc: Services) -> None:
    text = message.text.strip()
    if step in ("name", "siren"):
        give = registration.give_full_name if step == "name" else registration.give_cabinet_siren
        await _ask_next(message, await give(svc, actor, text), person, lang, svc)
        return
    digits = "".join(ch for ch in text if ch.isdigit())
    if step == "mobile_code" and len(digits) == 6 and not text.startswith("+"):
        progress = await registration.verify_mobile(svc, actor, text)
        await _ask_next(message, progress, person, lang, svc, done="mobile_verified")
        return
    number = await registration.set_mobile(svc, actor, text)
    await message.answer(replies.text("registration/code_sent", lang, phone=number))


@router.message(StateFilter(None), F.document | F.photo, _identity_file)
async def identity_file(message: Message, step: str, person: Person, actor: Actor, lang: str,
                        svc: Services, bot: Bot) -> None:
    if message.photo:
        # Telegram offers several sizes of a photo; the largest is the readable one.
        item, filename = message.photo[-1], f"photo-{step}.jpg"
    else:
        item, filename = message.document, message.document.file_name or f"{step}"
    if item.file_size and item.file_size > identity_files.MAX_BYTES:
        identity_files.check_size(item.file_size)  # Refused before downloading it.
    async with ChatActionSender.typing(chat_id=message.chat.id, bot=bot):
        data = await download(bot, item.file_id)
        await registration.add_document(svc, actor, step, filename, data)
        progress = await registration.progress(svc, actor)
    await _ask_next(message, progress, person, lang, svc, done=f"received_{step}")
