"""A mail's work is logged under its spool id, one line when it is processed, and counted:
accepted when the gateway says 250, answered when its reply is recorded; its seal is counted
under the mail channel."""

from __future__ import annotations

import io
import json
import re
import logging

from paraphe import logs
from paraphe.metrics import REGISTRY
from tests.mail_gateway.mailer import build, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import mail_in

SEAL = "seal@paraphe.localhost"


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_sealed_mail_is_logged_under_its_spool_id_and_counted(gateway, firm, dupont_key,
                                                                     settings):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    logs.configure("json", "INFO", stream=buffer)
    before = {outcome: _value("paraphe_mails_total", outcome=outcome)
              for outcome in ("accepted", "answered")}
    sealed_before = _value("paraphe_seal_seconds_count", channel="mail")
    try:
        msg = build(sender="Paul Martin <paul@dupont.fr>", to=SEAL, subject="Lettre",
                    attachments=[("lettre.pdf", make_pdf(text="Lettre"))],
                    message_id="<log1@dupont.fr>")
        await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr",
                   rcpts=SEAL)
        await wait_outbox(settings.home, 1)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    (done,) = [x for x in lines if x["message"].startswith("message processed:")]
    assert done["message"].startswith("message processed: sender/sealed in ")
    # The spool id: the file's name, or the row's name in PostgreSQL's spool.
    assert re.fullmatch(r"\d{20}-[0-9a-f]{12}(\.eml)?", done["correlation_id"])
    assert done["logger"] == "mail_gateway.pipeline"
    assert _value("paraphe_mails_total", outcome="accepted") == before["accepted"] + 1
    assert _value("paraphe_mails_total", outcome="answered") == before["answered"] + 1
    assert _value("paraphe_seal_seconds_count", channel="mail") == sealed_before + 1


async def test_a_secret_address_never_reaches_the_log(gateway, firm, settings):
    """aiosmtpd logs each command line and recipient at INFO; the service's log leaves out
    that chatter, which holds the person's secret mail-in address."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("mail.log").level)
    buffer = io.StringIO()
    logs.configure("json", "INFO", stream=buffer)
    rcpt = mail_in.address_for(settings, firm.paul)
    try:
        msg = build(sender="paul@dupont.fr", to=rcpt, subject="Lettre",
                    attachments=[("lettre.pdf", make_pdf(text="Lettre"))],
                    message_id="<log2@dupont.fr>")
        await send(gateway.port, raw(msg), mail_from="paul@dupont.fr", rcpts=rcpt)
        await wait_outbox(settings.home, 1)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("mail.log").setLevel(saved[2])
    text = buffer.getvalue()
    assert "message processed: sender/sealed" in text
    assert mail_in.secret_for(settings, firm.paul) not in text
