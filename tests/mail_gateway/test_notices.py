"""Notices by mail to people who did not link Telegram: low credit, a deadline near."""

from __future__ import annotations

from tests.dispatching import mail_dispatcher
from tests.mail_gateway.mailer import body_text, outbox
from tests.pdfs import make_pdf
from workflows import billing, clock, collections, delegations, sweeps
from workflows.actors import Actor
from workflows.collections import SignerSpec


async def test_low_credit_mail_to_the_experts(svc, firm, settings):
    await billing.debit(firm.dupont, 2, operation="seal", low_credit_threshold=20)
    assert await mail_dispatcher(svc).run_once() == 1
    (mail,) = outbox(settings.home)
    assert mail["To"] == "claire@dupont.fr"
    assert mail["Subject"] == "Crédit bas pour Cabinet Dupont : 18 restant(s)"
    text = body_text(mail)
    assert "passé sous le seuil de 20 : il reste 18 crédit(s)" in text
    assert "pas d'autre alerte" in text


async def test_expiry_warning_mails_to_initiator_and_expert(svc, firm, settings):
    await delegations.grant(Actor.operator(), firm.paul, firm.dupont, "launch")
    collection = await collections.create_collection(
        svc, Actor(person_id=firm.paul.id, channel="mail"), cabinet="dupont",
        documents=[("bilan.pdf", make_pdf(1))],
        signers=[SignerSpec("Jean Client", "jean@example.test")])
    clock.fast_forward(days=12, minutes=1)
    assert await sweeps.warn_expiring(svc) == 1
    worker = mail_dispatcher(svc)
    while await worker.run_once():
        pass
    mails = {m["To"]: m for m in outbox(settings.home)}
    paul, claire = mails["paul@dupont.fr"], mails["claire@dupont.fr"]
    assert paul["Subject"] == f"Collection no. {collection.id} expires soon: bilan.pdf"
    assert "Your collection \"bilan.pdf\" (Cabinet Dupont) expires on" in body_text(paul)
    assert "- Jean Client" in body_text(paul)
    assert claire["Subject"] == f"Collecte n° {collection.id} bientôt expirée : bilan.pdf"
    assert "lancée par Paul Martin pour Cabinet Dupont expire le" in body_text(claire)
