"""Linking a Telegram account with /start <code>, /unlink, and what unknown accounts get."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.fakes.telegram import User
from workflows import clock, evidence, linking
from workflows.models import EvidenceEvent


async def test_start_with_code_links_the_account_once(tg, bot, firm):
    anne = User(501, "Anne", username="anne")
    code = await linking.link_code_for(firm.expert)
    await tg.send_text(anne, f"/start {code.code}")
    reply = await tg.next_in_chat(anne.id, 0)
    assert "Anne Dupont" in reply.text and "expert@dupont.test" in reply.text
    await firm.expert.refresh_from_db()
    assert firm.expert.telegram_user_id == 501
    event = await EvidenceEvent.get(kind="telegram.linked")
    assert event.person_id == firm.expert.id and event.channel == "telegram"
    assert event.data["telegram_user_id"] == 501
    assert (await evidence.verify_chain()).ok

    # The code is one-time: someone else using it is refused, and stays unknown.
    mallory = User(666, "Mallory")
    await tg.send_text(mallory, f"/start {code.code}")
    refusal = await tg.next_in_chat(mallory.id, 0)
    assert "pas valable" in refusal.text
    await tg.send_text(mallory, "/credit")
    unknown = await tg.next_in_chat(mallory.id, 1)
    assert "n'est relié à aucun compte" in unknown.text
    assert len(tg.chat(mallory.id)) == 2


async def test_expired_code_is_refused(tg, bot, firm):
    code = await linking.issue_link_code(firm.collaborator)
    clock.fast_forward(hours=73)
    bob = User(502, "Bob", language_code="en")
    await tg.send_text(bob, f"/start {code.code}")
    reply = await tg.next_in_chat(bob.id, 0)
    assert "expired" in reply.text
    await firm.collaborator.refresh_from_db()
    assert firm.collaborator.telegram_user_id is None


async def test_unknown_account_gets_one_clear_answer_and_nothing_else(tg, bot, firm, svc):
    stranger = User(777, "Eve", language_code="en")
    await tg.send_text(stranger, "/help")
    await tg.send_document(stranger, b"%PDF-1.7 not really", "x.pdf")
    await tg.wait_for(lambda: len(tg.chat(stranger.id)) == 2)
    await tg.drained()
    texts = [s.text for s in tg.chat(stranger.id)]
    assert all("not linked to any Paraphe account" in t for t in texts)
    assert not tg.calls_to("getFile")  # The file was never fetched.


async def test_unlink(tg, bot, firm):
    bob = User(503, "Bob", language_code="en")
    await link(tg, firm.collaborator, bob)
    await tg.send_text(bob, "/unlink")
    reply = await tg.next_in_chat(bob.id, 1)
    assert "no longer linked" in reply.text
    await firm.collaborator.refresh_from_db()
    assert firm.collaborator.telegram_user_id is None
    assert await EvidenceEvent.exists(kind="telegram.unlinked", person_id=firm.collaborator.id)
    await tg.send_text(bob, "/help")
    assert "not linked" in (await tg.next_in_chat(bob.id, 2)).text


async def test_linked_person_typing_anything_gets_a_pointer(tg, bot, firm):
    bob = User(504, "Bob", language_code="en")
    await link(tg, firm.collaborator, bob)
    await tg.send_text(bob, "hello?")
    assert "type /help" in (await tg.next_in_chat(bob.id, 1)).text
