"""Notifications to linked people on Telegram: a notice to a person goes to their chat."""

from __future__ import annotations

import asyncio

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from workflows import notifications
from workflows.models import Notification, Person


async def test_approval_request_reaches_linked_approver_with_buttons(tg, bot, firm, svc):
    anne = User(701, "Anne")
    await link(tg, firm.expert, anne)
    expert = await Person.get(id=firm.expert.id)
    await notifications.to_person(
        expert, "approver/approval_request",
        {"collection_id": 42, "title": "Bilan 2025", "cabinet": "dupont",
         "documents": ["bilan.pdf", "liasse.pdf"],
         "signers": [{"name": "Client Un", "email": "un@client.test"}], "cost": 2},
        dedup_key="approval:anne")
    # Someone not linked gets the mail only.
    await notifications.enqueue(
        channel="mail", template="approver/approval_request", recipient="other@dupont.test",
        context={"collection_id": 42}, dedup_key="other")
    request = await tg.next_in_chat(anne.id, 1)
    assert "Collecte à valider n° 42 « Bilan 2025 » (dupont)\nDocuments : bilan.pdf" in request.text
    assert "bilan.pdf, liasse.pdf" in request.text and "Client Un <un@client.test>" in request.text
    assert "Coût : 2 crédit(s)" in request.text
    assert request.button_texts() == ["Valider", "Refuser"]
    assert request.button("Valider")["callback_data"] == "appr:approve:42"
    for _ in range(200):  # The dispatcher marks it sent right after Telegram accepted it.
        if await Notification.filter(channel="telegram", state="sent").exists():
            break
        await asyncio.sleep(0.05)
    # Anne's notice went to her chat only: one row, now naming her chat; none by mail.
    (chat,) = await Notification.filter(template="approver/approval_request",
                                        person_id=firm.expert.id)
    assert (chat.channel, chat.recipient, chat.state) == ("telegram", "701", "sent")
    assert chat.message_id == str(request.message_id)
    assert await Notification.filter(channel="mail", recipient=firm.expert.email).count() == 0


async def test_notification_with_document_sends_the_file(tg, bot, firm, svc):
    bob = User(702, "Bob", language_code="en")
    await link(tg, firm.collaborator, bob)
    doc = await svc.documents.put(make_pdf(1))
    await notifications.to_person(
        await Person.get(id=firm.collaborator.id), "approver/approval_request",
        {"collection_id": 7},
        attachments=[{"sha256": doc.sha256, "filename": "contract-signed.pdf"}])
    sent = await tg.next_in_chat(bob.id, 0, "document")
    assert sent.filename == "contract-signed.pdf" and sent.data.startswith(b"%PDF")
    assert "Collection to approve no. 7" in tg.chat(bob.id)[-2].text
