"""/status [id], /cancel <id>, /remind <id>: following one's collections."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import replies
from bot.routers._args import collection_id
from workflows.actors import Actor
from workflows.collections import (
    cancel_collection,
    get_collection,
    list_collections,
    remind_collection,
)
from workflows.delivery_state import invitation_delivery
from workflows.services import Services

router = Router(name=__name__)


async def describe(collection) -> dict:
    """What a person reads of a collection: its documents, its signers with their states and
    where each one's invitation stands (sent, waiting, or an address that failed)."""
    signers = await collection.signers.all().order_by("position")
    documents = await collection.documents.all().order_by("position")
    return {"collection": collection, "signers": signers,
            "delivery": await invitation_delivery(signers),
            "documents": [d.filename for d in documents]}


@router.message(Command("status"))
async def status(message: Message, command: CommandObject, actor: Actor, lang: str) -> None:
    number = collection_id(command)
    if number is not None:
        collection = await get_collection(actor, number)
        await message.answer(replies.text("collections/status_one", lang,
                                          **await describe(collection)))
        return
    collections = await list_collections(actor)
    await message.answer(replies.text("collections/status_list", lang,
                                      collections=list(collections)[-20:]))


@router.message(Command("cancel"))
async def cancel(message: Message, command: CommandObject, actor: Actor, lang: str,
                 svc: Services) -> None:
    number = collection_id(command)
    if number is None:
        await message.answer(replies.text("collections/usage_cancel", lang))
        return
    await cancel_collection(svc, actor, number)
    await message.answer(replies.text("collections/cancelled", lang, number=number))


@router.message(Command("remind"))
async def remind(message: Message, command: CommandObject, actor: Actor, lang: str,
                 svc: Services) -> None:
    number = collection_id(command)
    if number is None:
        await message.answer(replies.text("collections/usage_remind", lang))
        return
    count = await remind_collection(svc, actor, number)
    await message.answer(replies.text("collections/reminded", lang, number=number, count=count))
