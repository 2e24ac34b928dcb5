"""Mail from robots (RFC 3834, RFC 3464): accepted, recorded, never answered nor billed."""

from __future__ import annotations

from email.utils import make_msgid

import pytest

from mail_gateway.models import InboundMessage
from tests.mail_gateway.mailer import build, outbox, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing
from workflows.models import LedgerEntry, Notification

SEAL = "seal@paraphe.localhost"


def delivery_report(original: bytes, *, sender: str, to: str,
                    report_type: str = "delivery-status") -> bytes:
    """A DSN (RFC 3464) as an MTA writes it: a text, the status fields, the original message."""
    b = "=_report_7f3a"
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Date: Mon, 30 Nov 2026 09:00:00 +0100\r\nMessage-ID: {make_msgid(domain='dupont.fr')}\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="{b}"\r\n\r\n'
        f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"This is the mail system at host mx.dupont.fr. Your message could not be delivered.\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.dupont.fr\r\n\r\n"
        f"Final-Recipient: rfc822; nobody@ailleurs.example\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\n\r\n"
        f"--{b}\r\nContent-Type: message/rfc822\r\n\r\n")
    return head.encode() + original + f"\r\n--{b}--\r\n".encode()


async def _nothing_answered_nor_billed(gateway, firm, settings) -> InboundMessage:
    await gateway.worker.idle.wait()
    assert await Notification.all().count() == 0  # no reply was even queued
    assert await gateway.delivery.run_once() == 0
    assert outbox(settings.home) == []
    assert await LedgerEntry.filter(kind="debit").count() == 0
    assert await billing.balance(firm.dupont) == 20
    record = await InboundMessage.get()
    assert record.state == "done"
    return record


async def test_delivery_report_with_the_original_pdf_is_not_sealed(gateway, firm, settings):
    # The report of a mail Paul sent elsewhere with seal+secret@ in copy, bounced back to the
    # secret address, which authenticates without DKIM: the attached original carries a PDF.
    address = f"seal+{firm.secret(firm.paul)}@paraphe.localhost"
    original = raw(build(sender="paul@dupont.fr", to="nobody@ailleurs.example",
                         subject="Contrat", attachments=[("contrat.pdf", make_pdf())]))
    report = delivery_report(original, sender="Mail Delivery System <MAILER-DAEMON@dupont.fr>",
                             to=address)
    await send(gateway.port, report, mail_from="", rcpts=address)
    record = await _nothing_answered_nor_billed(gateway, firm, settings)
    assert record.outcome == {"ignored": "robot", "marker": "null reverse-path"}


# Each marker alone, on an otherwise ordinary signed mail from Paul with a PDF to seal@.
MARKERS = {
    "Auto-Submitted: auto-replied": {"Auto-Submitted": "auto-replied"},
    "Auto-Submitted: auto-generated": {"Auto-Submitted": "auto-generated"},
    "X-Autoreply: yes": {"X-Autoreply": "yes"},
    "X-Autorespond: Vacation": {"X-Autorespond": "Vacation"},
    "Precedence: bulk": {"Precedence": "bulk"},
    "Precedence: junk": {"Precedence": "junk"},
    "Precedence: auto_reply": {"Precedence": "auto_reply"},
    "Precedence: list": {"Precedence": "List"},
    "List-Id: <compta.dupont.fr>": {"List-Id": "Compta <compta.dupont.fr>"},
}


@pytest.mark.parametrize("marker", list(MARKERS))
async def test_robot_header_is_recorded_not_answered(marker, gateway, firm, dupont_key,
                                                     settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Réponse automatique",
                attachments=[("a.pdf", make_pdf())], headers=MARKERS[marker])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    record = await _nothing_answered_nor_billed(gateway, firm, settings)
    assert record.outcome == {"ignored": "robot", "marker": marker}


async def test_null_reverse_path_alone_marks_a_robot(gateway, firm, dupont_key, settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="", rcpts=SEAL)
    record = await _nothing_answered_nor_billed(gateway, firm, settings)
    assert record.outcome == {"ignored": "robot", "marker": "null reverse-path"}


@pytest.mark.parametrize("report_type", ["delivery-status", "disposition-notification"])
async def test_signed_report_from_a_person_is_a_robot(report_type, gateway, firm, dupont_key,
                                                      settings):
    # A read receipt (MDN) goes out from the reader's own address, signed by their domain.
    original = raw(build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())]))
    report = delivery_report(original, sender="paul@dupont.fr", to=SEAL, report_type=report_type)
    await send(gateway.port, dupont_key.sign(report), mail_from="paul@dupont.fr", rcpts=SEAL)
    record = await _nothing_answered_nor_billed(gateway, firm, settings)
    assert record.outcome == {"ignored": "robot", "marker": "Content-Type: multipart/report"}


async def test_auto_submitted_no_is_a_person(gateway, firm, dupont_key, settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Envoi", headers={
        "Auto-Submitted": "no", "Precedence": "first-class"},
        attachments=[("a.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["a-scelle.pdf"]
    assert await billing.balance(firm.dupont) == 19
