"""Each refusal of seal@: its own reply naming the cause, and nothing debited."""

from __future__ import annotations

import os

import pytest

from mail_gateway.models import InboundMessage
from tests.mail_gateway.mailer import body_text, build, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing
from workflows.models import LedgerEntry

SEAL = "seal@paraphe.localhost"
TEN_MB = 10 * 1024 * 1024


def _too_large_pdf() -> bytes:
    # Over the 10 MB document limit, yet under the SMTP SIZE limit once base64-encoded.
    return b"%PDF-1.7\n" + os.urandom(TEN_MB + 256 * 1024)


CASES = {
    # name: (sender, subject, attachments, fragment of the reply (fr for Claire/Nadia, en for Paul))
    "not a PDF": ("paul@dupont.fr", "Contrat", lambda: [
        ("contrat.docx", b"PK\x03\x04 not a pdf",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document")],
        "this file is not a PDF"),
    "encrypted": ("paul@dupont.fr", "Bilan", lambda: [
        ("bilan.pdf", make_pdf(encrypt_password="secret"))],
        "encrypted or password-protected"),
    "too large": ("paul@dupont.fr", "Liasse", lambda: [("liasse.pdf", _too_large_pdf())],
                  "over the 10 MB limit"),
    "no attachment": ("paul@dupont.fr", "Oubli", lambda: [], "your message has no attachment"),
    "no delegation": ("nadia@dupont.fr", "Devis", lambda: [("devis.pdf", make_pdf())],
                      "vous n'avez pas la délégation « sceller » pour le cabinet dupont"),
    "no credit": ("claire@dupont.fr", "[martin] Statuts", lambda: [("statuts.pdf", make_pdf())],
                  "le crédit du cabinet est épuisé"),
    "unknown cabinet": ("paul@dupont.fr", "[nope] PV", lambda: [("pv.pdf", make_pdf())],
                        'you are not a member of any cabinet "nope". Your cabinets: dupont'),
    "ambiguous cabinet": ("claire@dupont.fr", "PV d'AG", lambda: [("pv.pdf", make_pdf())],
                          "vous êtes membre de plusieurs cabinets (dupont, martin)"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_refusal_has_its_reply_and_costs_nothing(case, gateway, firm, dupont_key,
                                                            settings):
    sender, subject, attachments, fragment = CASES[case]
    msg = build(sender=sender, to=SEAL, subject=subject, attachments=attachments())
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from=sender, rcpts=SEAL)

    (reply,) = await wait_outbox(settings.home, 1)
    assert reply["To"] == sender
    assert reply["Subject"] == f"Re: {subject}"
    assert reply["In-Reply-To"] == msg["Message-ID"]
    text = " ".join(body_text(reply).split())
    assert fragment in text
    assert pdf_attachments(reply) == []
    assert await LedgerEntry.filter(kind="debit").count() == 0
    assert await billing.balance(firm.dupont) == 20
    assert (await InboundMessage.get()).state == "done"


async def test_five_pdfs_one_broken_four_sealed_and_the_fifth_explained(
        gateway, firm, dupont_key, settings):
    files = [(f"facture-{i}.pdf", make_pdf(text=f"Facture {i}")) for i in range(1, 5)]
    files.insert(2, ("abime.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog broken"))
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Factures", attachments=files)
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)

    (reply,) = await wait_outbox(settings.home, 1)
    names = [name for name, _ in pdf_attachments(reply)]
    assert names == [f"facture-{i}-scelle.pdf" for i in range(1, 5)]
    text = " ".join(body_text(reply).split())
    assert "4 documents sealed" in text
    assert "1 file not sealed: - abime.pdf: this PDF is damaged and cannot be read" in text
    assert "Credit left for the cabinet: 16." in text
    assert await LedgerEntry.filter(kind="debit").count() == 4
    assert await billing.balance(firm.dupont) == 16


async def test_credit_running_out_midway_seals_what_it_can(gateway, firm, dupont_key, settings,
                                                           svc):
    from workflows.models import Cabinet

    await Cabinet.filter(id=firm.dupont.id).update(credit_balance=2)
    files = [(f"doc-{i}.pdf", make_pdf(text=f"Doc {i}")) for i in range(3)]
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Lot", attachments=files)
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)

    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["doc-0-scelle.pdf", "doc-1-scelle.pdf"]
    text = " ".join(body_text(reply).split())
    assert "doc-2.pdf: the cabinet has run out of credit" in text
    assert "Credit left for the cabinet: 0." in text
    assert await billing.balance(firm.dupont) == 0
