"""Notices to linked experts in the chat: low credit after a seal, expiry warnings."""

from __future__ import annotations

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from workflows import billing
from workflows.actors import Actor
from workflows.models import Notification


async def _seal(tg, user: User, number: int) -> None:
    n, docs = len(tg.chat(user.id)), len(tg.chat(user.id, "document"))
    await tg.send_document(user, make_pdf(1, text=f"Facture {number}"), f"f{number}.pdf")
    await tg.press(user, await tg.expect(user.id, f"f{number}.pdf", after=n), "Seal")
    await tg.next_in_chat(user.id, docs, "document")


async def test_low_credit_notice_reaches_the_linked_expert_once(tg, bot, firm, svc):
    svc.settings.low_credit_threshold = 9
    anne, bob = User(621, "Anne"), User(622, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "seal")
    await link(tg, firm.expert, anne)
    await link(tg, firm.collaborator, bob)
    for number in (1, 2):
        await _seal(tg, bob, number)
    assert await billing.balance(firm.cabinet) == 8
    # 10 -> 9 is not below 9; 9 -> 8 is: the expert (not the collaborator) is told in the chat.
    notice = await tg.expect(anne.id, "Crédit bas")
    assert "Cabinet Dupont [dupont] : il reste 8 crédit(s), sous le seuil de 9" in notice.text
    assert not [s for s in tg.chat(bob.id) if "credit(s) left" in s.text]
    # Linked: the notice went to the chat only, not by mail as well.
    assert await Notification.filter(template="expert/low_credit", channel="mail").count() == 0
    # More seals below the threshold: no second notice; a top-up and a new crossing: one more.
    await _seal(tg, bob, 3)
    await billing.add_credit(Actor.operator(), firm.cabinet, 5)  # 7 -> 12
    for number in (4, 5, 6, 7):
        await _seal(tg, bob, number)
    await tg.wait_for(lambda: len([s for s in tg.chat(anne.id) if "Crédit bas" in s.text]) == 2)
    assert "il reste 8 crédit(s)" in [s for s in tg.chat(anne.id) if "Crédit bas" in s.text][1].text


async def test_expiry_warning_in_the_chat_of_the_linked_initiator(tg, bot, firm, svc):
    from workflows import clock, collections, sweeps
    from workflows.collections import SignerSpec

    anne = User(631, "Anne")
    await link(tg, firm.expert, anne)
    collection = await collections.create_collection(
        svc, Actor(person_id=firm.expert.id, channel="telegram"), cabinet="dupont",
        documents=[("bail.pdf", make_pdf(1))],
        signers=[SignerSpec("Jean Client", "jean@client.test")])
    clock.fast_forward(days=12, minutes=1)
    assert await sweeps.warn_expiring(svc) == 1
    warning = await tg.expect(anne.id, "expire le")
    assert f"Collecte n° {collection.id} « bail.pdf » (dupont)" in warning.text
    assert "N'ont pas encore signé : Jean Client. /remind" in warning.text
    # Anne is both initiator and expert: one warning, in the chat, none by mail.
    assert await Notification.filter(dedup_key__contains="expiry_warning").count() == 1
    assert await sweeps.warn_expiring(svc) == 0
