"""verify@: a free validation report per attached file, in the thread."""

from __future__ import annotations

from tests.mail_gateway.mailer import body_text, build, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing, sealing
from workflows.actors import Actor
from workflows.models import LedgerEntry

VERIFY = "verify@paraphe.localhost"


async def test_verify_reports_each_file_and_costs_nothing(gateway, firm, dupont_key, settings, svc):
    result = await sealing.seal_document(svc, Actor.operator(), cabinet="dupont",
                                         filename="contrat.pdf", data=make_pdf(text="Contrat"))
    sealed = await svc.documents.read(result.sha256)
    debits = await LedgerEntry.filter(kind="debit").count()
    msg = build(sender="claire@dupont.fr", to=VERIFY, subject="Vérification",
                attachments=[(result.filename, sealed),
                             ("note.txt", b"pas un pdf", "text/plain")])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts=VERIFY)
    (reply,) = await wait_outbox(settings.home, 1)
    text = body_text(reply)
    assert reply["Subject"] == "Re: Vérification"
    assert f"== {result.filename}" in text
    assert "toutes les signatures sont valides et de confiance" in text
    assert "Cabinet Dupont" in text
    # The EN 319 102-1 verdict on the file alone, the level and the archive horizon.
    assert "EN 319 102-1 : VALIDE ; vérifiable hors ligne : oui" in text
    assert "niveau : B-LTA" in text
    assert "Horodatages d'archive valables jusqu'au 20" in text
    assert "horodatage d'archive du " in text
    assert "== note.txt" in text and "ce fichier n'est pas un PDF" in text
    assert await LedgerEntry.filter(kind="debit").count() == debits
    assert await billing.balance(firm.dupont) == 19
