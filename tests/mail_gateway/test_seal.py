"""seal@ end to end: smtplib against the real gateway, sealed replies read from the outbox."""

from __future__ import annotations

import hashlib

from tests.mail_gateway.mailer import body_text, build, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from tests.validators import assert_pdfsig_trusts, pdfsig_report, qpdf_check
from tests.web.trust_server import serving_trust
from workflows import billing
from workflows.models import EvidenceEvent, LedgerEntry

SEAL = "seal@paraphe.localhost"


async def test_dkim_signed_mail_gets_its_pdf_back_sealed_in_the_same_thread(
        gateway, firm, dupont_key, settings):
    pdf = make_pdf(text="Lettre de mission")
    msg = build(sender="Paul Martin <paul@dupont.fr>", to=SEAL, subject="Lettre de mission",
                attachments=[("lettre.pdf", pdf)], message_id="<m1@dupont.fr>")
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)

    (reply,) = await wait_outbox(settings.home, 1)
    assert reply["To"] == "paul@dupont.fr"
    assert reply["Subject"] == "Re: Lettre de mission"
    assert reply["In-Reply-To"] == "<m1@dupont.fr>"
    assert "<m1@dupont.fr>" in reply["References"]
    assert reply["From"].addresses[0].addr_spec == SEAL
    ((name, sealed),) = pdf_attachments(reply)
    assert name == "lettre-scelle.pdf"
    text = body_text(reply)
    assert hashlib.sha256(sealed).hexdigest() in text  # Paul writes in English:
    assert "Credit left for the cabinet: 19." in text
    assert await billing.balance(firm.dupont) == 19
    event = await EvidenceEvent.filter(kind="seal.applied").get()
    assert event.data["origin"]["message_id"] == "<m1@dupont.fr>"
    assert event.data["origin"]["auth"] == {"method": "dkim", "domain": "dupont.fr"}
    assert event.data["basis"] == "delegation:seal"
    assert await LedgerEntry.filter(kind="debit").count() == 1


async def test_sealed_reply_validates_with_pdfsig_and_pyhanko(gateway, firm, dupont_key, settings,
                                                            svc, tmp_path):
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    msg = build(sender="paul@dupont.fr", to=SEAL, subject="À valider",
                attachments=[("valide.pdf", make_pdf(text="Valide"))])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    ((name, sealed),) = pdf_attachments(reply)
    path = tmp_path / name
    path.write_bytes(sealed)

    # The seal, then its validation data under a document timestamp (PAdES B-LTA).
    signature, stamp = PdfFileReader(BytesIO(sealed)).embedded_signatures
    assert stamp.sig_object_type == "/DocTimeStamp"
    status = await async_validate_pdf_signature(signature, ValidationContext(
        trust_roots=svc.trust.trust_roots(), allow_fetching=False))
    assert status.intact and status.valid and status.trusted
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
    assert status.coverage.name == "ENTIRE_REVISION"

    # pdfsig asks the OCSP responder the certificates name: serve it, as `paraphe serve` does.
    async with serving_trust(svc.trust):
        entries = await pdfsig_report(path, svc.trust.root_pem())
    assert_pdfsig_trusts(entries, 1)
    assert "Cabinet Dupont" in entries[0]["Signer Certificate Common Name"]
    await qpdf_check(path)
