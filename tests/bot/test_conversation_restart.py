"""A /collect conversation is kept in the database: a bot restart in the middle resumes it."""

from __future__ import annotations

import re

from bot.models import TelegramConversation
from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from workflows.models import Collection, CollectionDocument, Signer


async def test_collect_resumes_after_a_bot_restart(tg, svc, firm):
    from bot.app import start_bot

    bob = User(811, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    first = await start_bot(svc, poll_timeout=1)
    try:
        await link(tg, firm.collaborator, bob)
        n = len(tg.chat(bob.id))
        await tg.send_text(bob, "/collect")
        await tg.expect(bob.id, "Send the PDFs", after=n)
        await tg.send_document(bob, make_pdf(1, text="Lettre de mission"), "mission.pdf")
        await tg.expect(bob.id, "1 document(s)", after=n)
    finally:
        await first.stop()
    # The conversation is a row in the database, not in the stopped bot's memory.
    saved = await TelegramConversation.get(key__contains=f":{bob.id}:")
    assert saved.state == "Collecting:documents" and saved.data["documents"][0][0] == "mission.pdf"

    second = await start_bot(svc, poll_timeout=1)
    try:
        n = len(tg.chat(bob.id))
        await tg.send_document(bob, make_pdf(2, text="Annexe"), "annex.pdf")
        await tg.expect(bob.id, "2 document(s)", after=n)
        await tg.send_text(bob, "/done")
        await tg.expect(bob.id, "Who must sign?", after=n)
        await tg.send_text(bob, "Jean Client <jean@client.test>")
        order = await tg.expect(bob.id, "in the order of the list", after=n)
        await tg.press(bob, order, "In parallel")
        await tg.expect(bob.id, "message for the signers", after=n)
        await tg.send_text(bob, "/skip")
        summary = await tg.expect(bob.id, "Shall I create it?", after=n)
        assert "mission.pdf" in summary.text and "annex.pdf" in summary.text
        await tg.press(bob, summary, "Create")
        created = await tg.expect(bob.id, "created", after=n)
    finally:
        await second.stop()
    number = int(re.search(r"no\. (\d+)", created.text).group(1))
    collection = await Collection.get(id=number)
    assert collection.state == "awaiting_approval" and not collection.ordered
    docs = await (CollectionDocument.filter(collection_id=number).order_by("position")
                  .prefetch_related("original"))
    assert [d.filename for d in docs] == ["mission.pdf", "annex.pdf"]
    assert [s.email for s in await Signer.filter(collection_id=number)] == ["jean@client.test"]
    # The finished conversation leaves nothing behind.
    assert not await TelegramConversation.filter(key__contains=f":{bob.id}:").exists()


async def test_conversations_left_a_week_are_forgotten(db):
    from aiogram.fsm.storage.base import StorageKey

    from bot import sweeps
    from bot.fsm_storage import DatabaseStorage
    from workflows import clock

    storage = DatabaseStorage()
    old, fresh = StorageKey(bot_id=1, chat_id=5, user_id=5), StorageKey(bot_id=1, chat_id=6,
                                                                        user_id=6)
    await storage.set_state(old, "Collecting:documents")
    await storage.update_data(old, {"cabinet": "dupont", "documents": []})
    clock.fast_forward(days=6)
    await storage.set_state(fresh, "Collecting:signers")
    assert await sweeps.forget_stale_conversations(None) == 0
    clock.fast_forward(days=1, minutes=1)
    assert await sweeps.forget_stale_conversations(None) == 1
    assert await storage.get_state(old) is None and await storage.get_data(old) == {}
    assert await storage.get_state(fresh) == "Collecting:signers"
    # Clearing a conversation leaves no row behind.
    await storage.set_state(fresh, None)
    await storage.set_data(fresh, {})
    assert not await TelegramConversation.all().exists()
