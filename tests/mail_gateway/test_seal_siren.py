"""seal@ for a cabinet without SIREN: a reply saying why (its seal must name it), nothing billed."""

from __future__ import annotations

from tests.mail_gateway.mailer import body_text, build, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing, people, terms
from workflows.actors import Actor
from workflows.models import LedgerEntry

SEAL = "seal@paraphe.localhost"


async def test_a_cabinet_without_siren_gets_no_seal_and_is_told_why(gateway, firm, dupont_key,
                                                                     svc, settings):
    op = Actor.operator()
    neuf = await people.create_cabinet(op, slug="neuf", name="Cabinet Neuf")
    await billing.add_credit(op, neuf, 5)
    await people.add_person(op, email="claire@dupont.fr", name="Claire Dupont", cabinet="neuf",
                            role="expert")
    await terms.accept_terms(svc, Actor(firm.claire.id, "cli"), neuf, settings.terms_version)
    msg = build(sender="claire@dupont.fr", to=SEAL, subject="[neuf] Statuts",
                attachments=[("statuts.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    text = " ".join(body_text(reply).split())
    assert "le cabinet neuf n'a pas encore de numéro SIREN" in text, text
    assert pdf_attachments(reply) == []
    assert await LedgerEntry.filter(kind="debit").count() == 0
