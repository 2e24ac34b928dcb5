"""/help (only what this person may do), /credit and /delegations."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot import replies
from workflows import billing, delegations, people
from workflows.collections import may_start_with
from workflows.models import Person

router = Router(name=__name__)


def commands_for(rights: dict[str, list[str]]) -> list[str]:
    """The commands this person may use, from the actions they hold in any cabinet."""
    held = {action for actions in rights.values() for action in actions}
    commands = []
    if "seal" in held:
        commands.append("seal")
    if may_start_with(held):
        commands += ["collect", "status", "cancel", "remind"]
    if "launch" in held:
        commands += ["approve", "reject"]
    if "sign" in held:
        commands += ["sign", "register", "certificate"]
    return commands + ["verify", "credit", "delegations", "unlink", "help"]


@router.message(Command("help"))
async def help_(message: Message, person: Person, lang: str) -> None:
    rights = await delegations.rights_of(person)
    commands = commands_for(rights)
    if any(m.role == "expert" for m in await people.memberships_of(person)):
        commands.insert(-1, "terms")  # Experts accept the terms of their cabinets.
    await message.answer(replies.text("account/help", lang, person=person,
                                      commands=commands, rights=rights))


@router.message(Command("credit"))
async def credit(message: Message, person: Person, lang: str) -> None:
    summaries = [await billing.summary(m.cabinet) for m in await people.memberships_of(person)]
    await message.answer(replies.text("account/credit", lang, summaries=summaries))


@router.message(Command("delegations"))
async def delegations_(message: Message, person: Person, lang: str) -> None:
    memberships = await people.memberships_of(person)
    rights = await delegations.rights_of(person)
    await message.answer(replies.text("account/delegations", lang, rights=rights,
                                      roles={m.cabinet.slug: m.role for m in memberships}))
