"""Hostile and broken mail through the real gateway: control characters, unreadable MIME, retries
past the deadline."""

from __future__ import annotations

import asyncio
import base64

import pytest

from mail_gateway import pipeline
from mail_gateway.models import InboundMessage
from tests.mail_gateway.hostile import (message, nested, pending, quarantined, raw_of,
                                       wait_for)
from tests.mail_gateway.mailer import body_text, outbox, pdf_attachments, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing, clock
from workflows.errors import TrustServiceError
from workflows.models import LedgerEntry, Notification

CONTROLS = {chr(c) for c in range(32)} | {"\x7f"}


def _b64_word(text: bytes) -> bytes:
    return b"=?utf-8?b?" + base64.b64encode(text) + b"?="


@pytest.mark.parametrize("fields, subject, in_reply_to", [
    ({"subject": _b64_word(b"Lettre\x00 de mission")}, "Re: Lettre de mission",
     "<nul-s@dupont.fr>"),
    ({"subject": b"=?utf-8?q?Lettre=0D=0ABcc:_evil@example.com?="},
     "Re: Lettre Bcc: evil@example.com", "<crlf-s@dupont.fr>"),
    ({"message_id": _b64_word(b"<nul\x00-m@dupont.fr>")}, "Re: Documents", "<nul-m@dupont.fr>"),
    ({"message_id": b"=?utf-8?q?<crlf=0D=0ABcc:_evil@example.com>?="}, "Re: Documents", None),
], ids=["nul-subject", "crlf-subject", "nul-message-id", "crlf-message-id"])
async def test_control_characters_in_subject_and_message_id_never_reach_storage_or_headers(
        gateway, firm, settings, fields, subject, in_reply_to):
    fields.setdefault("message_id", b"<" + in_reply_to.strip("<>").encode() + b">"
                      if in_reply_to else b"<unused@dupont.fr>")
    data = message(pdf=make_pdf(text="Lettre"), **fields)
    await send(gateway.port, data, mail_from="paul@dupont.fr",
               rcpts=f"seal+{firm.secret(firm.paul)}@paraphe.localhost")

    (reply,) = await wait_outbox(settings.home, 1)
    assert reply["Subject"] == subject
    assert reply["In-Reply-To"] == in_reply_to
    assert reply["Bcc"] is None and reply["To"] == "paul@dupont.fr"
    assert [name for name, _ in pdf_attachments(reply)] == ["lettre-scelle.pdf"]
    assert await billing.balance(firm.dupont) == 19
    assert await LedgerEntry.filter(kind="debit").count() == 1
    record = await InboundMessage.get()
    assert record.state == "done" and not CONTROLS & set(record.message_id or "")
    note = await Notification.get(channel="mail", recipient="paul@dupont.fr")
    assert not CONTROLS & set("".join(str(v) for v in note.thread.values()))
    await asyncio.sleep(0.5)  # answered once: no retry sends a second reply
    assert len(outbox(settings.home)) == 1 and not await pending(settings)


@pytest.mark.parametrize("data, detail", [
    (message(pdf=make_pdf(text="Lettre"), filename_param=b"filename*"), "mime_error"),
    (nested(1000), "too_deep"),
], ids=["rfc2231-empty-filename", "nested-1000-deep"])
async def test_unreadable_mime_is_answered_once_and_quarantined_with_its_reason(
        gateway, firm, settings, data, detail):
    await send(gateway.port, data, mail_from="paul@dupont.fr",
               rcpts=f"seal+{firm.secret(firm.paul)}@paraphe.localhost")

    (reply,) = await wait_outbox(settings.home, 1)
    assert "could not be read" in body_text(reply) and "nothing was billed" in body_text(reply)
    assert await wait_for(lambda: quarantined(settings))
    ((path, reason),) = await quarantined(settings)
    assert reason["reason"] == "message_unreadable" and reason["cause"]["reason"] == detail
    assert reason["reply"] == "sender/unreadable"
    assert (await raw_of(settings, path)).endswith(data)
    assert not await pending(settings)
    assert (await InboundMessage.get()).state == "quarantined"
    assert await LedgerEntry.filter(kind="debit").count() == 0
    await asyncio.sleep(0.5)
    assert len(outbox(settings.home)) == 1


async def test_unreadable_mail_from_a_robot_is_quarantined_without_a_reply(
        gateway, firm, settings):
    data = message(pdf=make_pdf(text="Lettre"), filename_param=b"filename*",
                   extra=b"Auto-Submitted: auto-replied\r\n")
    await send(gateway.port, data, mail_from="paul@dupont.fr",
               rcpts=f"seal+{firm.secret(firm.paul)}@paraphe.localhost")
    assert await wait_for(lambda: quarantined(settings))
    ((_, reason),) = await quarantined(settings)
    assert reason["reason"] == "message_unreadable" and reason["reply"] is None
    await asyncio.sleep(0.5)
    assert outbox(settings.home) == [] and await Notification.all().count() == 0


async def _database_away(*args, **kwargs):
    raise ConnectionError("the database is away")


async def _workers_fail(*args, **kwargs):
    raise TrustServiceError("the signing worker stopped; try again")


# What keeps failing: the database, or the workers on this very message (one killed by it,
# say), where the message's header fields, read in the service, are enough to answer it.
@pytest.mark.parametrize("target, failing", [
    ((pipeline, "_record"), _database_away),
    ((pipeline.parsing, "parse_spooled"), _workers_fail),
], ids=["database-away", "workers-fail-on-it"])
async def test_a_mail_failing_past_the_deadline_is_answered_and_set_aside(
        gateway, firm, settings, monkeypatch, target, failing):
    monkeypatch.setattr(*target, failing)
    monkeypatch.setattr(pipeline, "RETRY_DELAYS", (0.2,))
    await send(gateway.port, message(pdf=make_pdf(text="Lettre")), mail_from="paul@dupont.fr",
               rcpts=f"seal+{firm.secret(firm.paul)}@paraphe.localhost")
    await asyncio.sleep(1.0)  # several attempts fail, within the deadline: it waits in the spool
    assert len(await pending(settings)) == 1 and outbox(settings.home) == []

    clock.fast_forward(hours=settings.mail_retry_hours + 1)
    (reply,) = await wait_outbox(settings.home, 1)
    assert "Nothing was billed" in body_text(reply) and reply["In-Reply-To"] == "<m@dupont.fr>"
    assert await wait_for(lambda: quarantined(settings))
    ((_, reason),) = await quarantined(settings)
    assert reason["reason"] == "deadline" and reason["reply"] == "sender/internal_error"
    assert not await pending(settings)
    assert await LedgerEntry.filter(kind="debit").count() == 0
