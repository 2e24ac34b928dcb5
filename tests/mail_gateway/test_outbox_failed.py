"""`paraphe outbox --failed`: every channel's notifications that could not be delivered, with
why, as the operator reads them to act (fix an address, ask for another number)."""

from __future__ import annotations

from tests.cli import paraphe
from workflows import notifications
from workflows.models import Notification


async def test_failed_notifications_of_every_channel_are_listed(settings, db):
    bounced = await notifications.enqueue(channel="mail", template="collection/invite",
                                          recipient="jean.martin@example.org", context={})
    await notifications.mark_refused(bounced, "mailbox_unknown",
                                     "550 5.1.1 <jean.martin@example.org>:\n user unknown")
    sms = await notifications.enqueue(channel="sms", template="collection/code",
                                      recipient="+33612345678", context={})
    sms.attempts = len(notifications.BACKOFF) + 1
    await notifications.mark_failed(sms, "TimeoutError: " + "x" * 500)
    await notifications.enqueue(channel="mail", template="sender/refused",
                                recipient="paul@dupont.fr", context={})  # still pending
    await Notification.filter(id=sms.id).update(attempts=sms.attempts)

    listing = paraphe(settings, "outbox", "--failed", "--json")
    assert listing.code == 0, listing.err
    mail, text_message = listing.json()["failed"]
    assert mail["channel"] == "mail" and mail["recipient"] == "jean.martin@example.org"
    assert mail["template"] == "collection/invite" and mail["failure_reason"] == "mailbox_unknown"
    assert mail["last_error"] == "550 5.1.1 <jean.martin@example.org>: user unknown"
    assert mail["created_at"] and mail["attempts"] == 0
    assert text_message["channel"] == "sms" and text_message["attempts"] == 8
    assert text_message["failure_reason"] == "retries_exhausted"
    assert len(text_message["last_error"]) <= 160 and text_message["last_error"].endswith("…")

    text = paraphe(settings, "outbox", "--failed")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert len(lines) == 2
    assert "mail  jean.martin@example.org  collection/invite  attempts=0  mailbox_unknown" \
        in lines[0]
    assert "sms  +33612345678  collection/code  attempts=8  retries_exhausted" in lines[1]
    last = paraphe(settings, "outbox", "--failed", "--limit", "1", "--json").json()["failed"]
    assert [item["channel"] for item in last] == ["sms"]


async def test_nothing_failed_says_so(settings, db):
    result = paraphe(settings, "outbox", "--failed")
    assert result.code == 0 and result.out == "no failed notifications\n"
    assert paraphe(settings, "outbox", "--failed", "--json").json() == {"failed": []}
