"""Collections by chat: /collect by a preparer, approval by button and by command, rejection,
/sign with a wrong then a right code, /status, /cancel, /remind (C's workflows.collections)."""

from __future__ import annotations

import asyncio
import re

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from workflows.delivery_state import invitation_key
from workflows.models import Collection, EvidenceEvent, Notification, Signer


async def _prepare(tg, bob: User) -> Collection:
    """Bob (prepare only) builds a two-signer collection through the conversation."""
    n = len(tg.chat(bob.id))
    await tg.send_text(bob, "/collect")
    await tg.expect(bob.id, "Send the PDFs", after=n)
    await tg.send_document(bob, make_pdf(1, text="Contrat"), "contract.pdf")
    await tg.expect(bob.id, "1 document(s)", after=n)
    await tg.send_text(bob, "/done")
    await tg.expect(bob.id, "Who must sign?", after=n)
    await tg.send_text(bob, "Jean Client <jean@client.test>\nnonsense line")
    await tg.expect(bob.id, "nonsense line", after=n)
    await tg.send_text(bob, "Jean Client <jean@client.test>\nMarie Client <marie@client.test>")
    order = await tg.expect(bob.id, "in the order of the list", after=n)
    await tg.press(bob, order, "In order")
    await tg.expect(bob.id, "message for the signers", after=n)
    await tg.send_text(bob, "Merci de signer")
    summary = await tg.expect(bob.id, "Shall I create it?", after=n)
    assert "Jean Client <jean@client.test>" in summary.text and "(in order)" in summary.text
    await tg.press(bob, summary, "Create")
    created = await tg.expect(bob.id, "created", after=n)
    number = int(re.search(r"no\. (\d+)", created.text).group(1))
    assert "awaits approval" in created.text
    collection = await Collection.get(id=number)
    assert collection.state == "awaiting_approval" and collection.ordered
    return collection


async def test_preparer_collection_approved_by_button(tg, bot, firm, svc):
    anne, bob = User(801, "Anne"), User(802, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    await link(tg, firm.expert, anne)
    await link(tg, firm.collaborator, bob)
    collection = await _prepare(tg, bob)
    # The expert gets the approval request with its buttons.
    request = await tg.wait_for(lambda: [s for s in tg.chat(anne.id)
                                         if f"n° {collection.id}" in s.text and s.buttons])
    await tg.press(anne, request[0], "Valider")
    await tg.wait_for(lambda: any("validée et lancée" in s.text for s in tg.chat(anne.id)))
    await collection.refresh_from_db()
    assert collection.state == "in_progress"
    event = await EvidenceEvent.filter(collection_id=collection.id,
                                       kind__contains="approv").first()
    assert event.channel == "telegram" and event.data["origin"]["telegram_user_id"] == anne.id
    # The same button again is answered clearly.
    await tg.press(anne, request[0], "Valider")
    await tg.wait_for(lambda: any("ce n'est plus possible" in s.text
                                  for s in tg.chat(anne.id)))


async def test_preparer_collection_approved_by_command_and_rejected(tg, bot, firm, svc):
    anne, bob = User(811, "Anne"), User(812, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    await link(tg, firm.expert, anne)
    await link(tg, firm.collaborator, bob)
    first = await _prepare(tg, bob)
    n = len(tg.chat(anne.id))
    await tg.send_text(anne, f"/approve {first.id}")
    await tg.wait_for(lambda: any(f"n° {first.id} validée" in s.text for s in tg.chat(anne.id)))
    await first.refresh_from_db()
    assert first.state == "in_progress"
    second = await _prepare(tg, bob)
    await tg.send_text(anne, f"/reject {second.id} Mauvais document")
    await tg.wait_for(lambda: any(f"n° {second.id} refusée" in s.text for s in tg.chat(anne.id)))
    await second.refresh_from_db()
    assert second.state != "in_progress" and second.rejection_reason == "Mauvais document"
    # Bob may not approve (no launch delegation).
    third = await _prepare(tg, bob)
    m = len(tg.chat(bob.id))
    await tg.send_text(bob, f"/approve {third.id}")
    await tg.expect(bob.id, "\"launch\" delegation", after=m)
    assert n < len(tg.chat(anne.id))


async def test_sign_with_wrong_then_right_code(tg, bot, firm, svc, home):
    from workflows.collections import SignerSpec, create_collection
    from workflows.models import Signer

    from tests.registration import last_sms_code, register_and_approve

    anne = User(821, "Anne")
    await link(tg, firm.expert, anne)
    await register_and_approve(svc, firm.expert, phone="+33655555555")
    from workflows.actors import Actor

    collection = await create_collection(
        svc, Actor(firm.expert.id, "telegram"), cabinet="dupont",
        documents=[("accord.pdf", make_pdf(1))],
        signers=[SignerSpec("Anne Dupont", "expert@dupont.test")])
    await tg.send_text(anne, f"/sign {collection.id}")
    sent = await tg.wait_for(lambda: [s for s in tg.chat(anne.id) if "code" in s.text.lower()
                                      and "envoyé" in s.text])
    # The code went out of band, by SMS to the mobile checked at registration.
    assert "SMS" in sent[0].text
    code = await last_sms_code(svc, "+33655555555")
    wrong = "000000" if code != "000000" else "111111"
    n = len(tg.chat(anne.id))
    await tg.send_text(anne, wrong)
    await tg.expect(anne.id, "Code incorrect", after=n)
    await tg.send_text(anne, code)
    await tg.expect(anne.id, "C'est signé", after=n)
    signer = await Signer.get(collection_id=collection.id)
    assert signer.state == "signed"
    event = await EvidenceEvent.filter(collection_id=collection.id, kind__contains="sign",
                                       channel="telegram").first()
    assert event is not None and event.data["origin"]["telegram_user_id"] == anne.id


async def test_reject_by_button_then_status_cancel_remind(tg, bot, firm, svc):
    anne, bob = User(831, "Anne"), User(832, "Bob", language_code="en")
    await firm.grant(firm.collaborator, "prepare")
    await link(tg, firm.expert, anne)
    await link(tg, firm.collaborator, bob)
    rejected = await _prepare(tg, bob)
    request = await tg.expect(anne.id, f"n° {rejected.id}")
    n = len(tg.chat(anne.id))
    await tg.press(anne, request, "Refuser")
    await tg.expect(anne.id, "Pourquoi refusez-vous", after=n)
    await tg.send_text(anne, "Il manque l'annexe")
    await tg.expect(anne.id, f"n° {rejected.id} refusée", after=n)
    await rejected.refresh_from_db()
    assert rejected.rejection_reason == "Il manque l'annexe"
    await tg.expect(bob.id, "rejected by Anne Dupont")

    launched = await _prepare(tg, bob)
    await tg.send_text(anne, f"/approve {launched.id}")
    await tg.expect(anne.id, f"n° {launched.id} validée")
    # The preparer's notice of the launch names the collection too: let it arrive first.
    await tg.expect(bob.id, f"no. {launched.id} \"contract.pdf\" (dupont): approved")
    # The service's dispatcher runs here: wait for the invitation to go out (the Maildir),
    # as a preparer asking for the status a moment later would. Marie's turn comes later (a
    # set order): no invitation yet, so nothing said about one.
    await _invitation_sent(launched.id, "jean@client.test")
    n = len(tg.chat(bob.id))
    await tg.send_text(bob, f"/status {launched.id}")
    status = await tg.expect(bob.id, "Jean Client <jean@client.test>", after=n)
    assert f"Collection no. {launched.id}" in status.text
    assert "\n- Jean Client <jean@client.test>: pending (invitation sent)\n" in status.text
    assert status.text.rstrip().endswith("\n- Marie Client <marie@client.test>: pending")
    await tg.send_text(bob, "/status")
    listing = await tg.expect(bob.id, f"no. {rejected.id}", after=n)
    assert f"no. {launched.id}" in listing.text
    await tg.send_text(bob, f"/remind {launched.id}")
    await tg.expect(bob.id, "signer(s) reminded", after=n)
    await tg.send_text(bob, f"/cancel {launched.id}")
    await tg.expect(bob.id, f"Collection no. {launched.id} cancelled", after=n)
    await launched.refresh_from_db()
    assert launched.state == "cancelled"
    # A collection of another cabinet, or none: a clear answer.
    await tg.send_text(bob, "/status 9999")
    await tg.expect(bob.id, "No collection with this number", after=n)


async def test_a_french_preparer_uses_the_french_commands(tg, bot, firm, svc):
    """/fini, /passer and /abandon are the French words for /done, /skip and /abort; the
    prompts in French name them."""
    chloe = User(805, "Chloé")
    await link(tg, firm.expert, chloe)
    n = len(tg.chat(chloe.id))
    await tg.send_text(chloe, "/collect")
    prompt = await tg.expect(chloe.id, "Envoyez les PDF", after=n)
    assert "/fini" in prompt.text and "/abandon" in prompt.text and "/done" not in prompt.text
    await tg.send_document(chloe, make_pdf(1, text="Lettre de mission"), "lettre.pdf")
    added = await tg.expect(chloe.id, "1 document(s)", after=n)
    assert "/fini" in added.text
    await tg.send_text(chloe, "/fini")
    await tg.expect(chloe.id, "Qui doit signer ?", after=n)
    await tg.send_text(chloe, "Jean Client <jean@client.test>")
    order = await tg.expect(chloe.id, "dans l'ordre de la liste", after=n)
    await tg.press(chloe, order, "En parallèle")
    asked = await tg.expect(chloe.id, "Le message pour les signataires", after=n)
    assert "/passer" in asked.text and "/skip" not in asked.text
    await tg.send_text(chloe, "/passer")
    summary = await tg.expect(chloe.id, "Je la crée ?", after=n)
    assert "Message :" not in summary.text
    await tg.send_text(chloe, "/abandon")
    await tg.expect(chloe.id, "Collecte abandonnée", after=n)
    assert not await Collection.filter(cabinet_id=firm.cabinet.id).exists()


async def _invitation_sent(collection_id: int, email: str, timeout: float = 30.0) -> None:
    """Waits until the dispatcher sent the signer's invitation (fails after `timeout`)."""
    signer = await Signer.get(collection_id=collection_id, email=email)
    key = invitation_key(collection_id, signer.id)
    deadline = asyncio.get_running_loop().time() + timeout
    while not await Notification.filter(dedup_key=key, state="sent").exists():
        assert asyncio.get_running_loop().time() < deadline, "the invitation was not sent"
        await asyncio.sleep(0.05)
