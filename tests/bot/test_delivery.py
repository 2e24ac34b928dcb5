"""Notifications to linked people on Telegram: chat copies of the core's mail notifications."""

from __future__ import annotations

import asyncio

from tests.bot.conftest import link
from tests.fakes.telegram import User
from tests.pdfs import make_pdf
from workflows import notifications
from workflows.models import Notification


async def test_approval_request_reaches_linked_approver_with_buttons(tg, bot, firm, svc):
    anne = User(701, "Anne")
    await link(tg, firm.expert, anne)
    await notifications.enqueue(
        channel="mail", template="approver/approval_request", recipient=firm.expert.email,
        language="fr", person_id=firm.expert.id,
        context={"collection_id": 42, "title": "Bilan 2025", "cabinet": "dupont",
                 "documents": ["bilan.pdf", "liasse.pdf"],
                 "signers": [{"name": "Client Un", "email": "un@client.test"}], "cost": 2})
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
    copies = await Notification.filter(channel="telegram").all()
    assert len(copies) == 1 and copies[0].recipient == "701"
    for _ in range(200):  # The worker marks it sent right after Telegram accepted it.
        if await Notification.filter(channel="telegram", state="sent").exists():
            break
        await asyncio.sleep(0.05)
    assert await Notification.filter(channel="telegram", state="sent").count() == 1


async def test_notification_with_document_sends_the_file(tg, bot, firm, svc):
    bob = User(702, "Bob", language_code="en")
    await link(tg, firm.collaborator, bob)
    doc = await svc.documents.put(make_pdf(1))
    await notifications.enqueue(
        channel="telegram", template="approver/approval_request", recipient=str(bob.id),
        language="en", context={"collection_id": 7}, person_id=firm.collaborator.id,
        attachments=[{"sha256": doc.sha256, "filename": "contract-signed.pdf"}])
    sent = await tg.next_in_chat(bob.id, 0, "document")
    assert sent.filename == "contract-signed.pdf" and sent.data.startswith(b"%PDF")
    assert "Collection to approve no. 7" in tg.chat(bob.id)[-2].text
