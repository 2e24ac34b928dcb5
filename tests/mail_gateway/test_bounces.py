"""Bounces: a relay's 550 and a DSN at bounce+<token>@ mark the signer, tell the initiator and
send the invitation by SMS; a 451 is retried then delivered; a forged bounce does nothing."""

from __future__ import annotations

import asyncio
import smtplib

import aiosmtplib
import pytest

from bot.routers.tracking import describe
from mail_gateway.delivery import permanent_refusal
from tests.dispatching import mail_dispatcher
from paraphe import templating
from tests.fakes.smtp_relay import SmtpRelay
from tests.mail_gateway.mailer import outbox, send, wait_outbox
from tests.pdfs import make_pdf
from web.api.collections import serialize
from workflows import clock, collections, deliveries, webhooks
from workflows.actors import Actor
from workflows.collections import SignerSpec, notices
from workflows.models import (
    Collection,
    EvidenceEvent,
    Notification,
    Signer,
    WebhookEvent,
)
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets

DOMAIN = "paraphe.localhost"
GONE, SLOW = "gaston@client.test", "lucie@client.test"
MOBILE = "+33611223344"


async def _collection(svc, firm, signers) -> Collection:
    await webhooks.add_endpoint(Actor.operator(), cabinet="dupont",
                                url="http://127.0.0.1:9/paraphe-hook", box=SecretBox(svc.settings),
                                targets=WebhookTargets(allow_private=True))
    return await collections.create_collection(
        svc, Actor(firm.claire.id, "mail"), cabinet="dupont",
        documents=[("contrat.pdf", make_pdf(1))], signers=signers, title="Contrat 2026")


async def _invitation(email: str) -> Notification:
    return await Notification.get(recipient=email, template="signer/invitation", channel="mail")


async def _check_marked(svc, collection, signer: Signer, notification: Notification, *,
                        reason: str, words: str) -> None:
    """What the initiator and the cabinet's software see of a failed invitation."""
    n = await Notification.get(id=notification.id)
    assert (n.state, n.failure_reason, n.delivery_status) == ("failed", reason, "failed")
    signer = await Signer.get(id=signer.id)
    assert signer.delivery_failed_at is not None and words in signer.delivery_failure
    # The SMS invitation: the signer's own link, who sends it, the title; no code.
    sms = await Notification.get(channel="sms", signer_id=signer.id)
    assert (sms.recipient, sms.template, sms.state) == (MOBILE, "signer/invitation", "pending")
    assert sms.context["link"] == (await _invitation(signer.email)).context["link"]
    text = templating.render("sms/signer/invitation", "fr", **sms.context)
    assert "Claire Dupont" in text and "Contrat 2026" in text and sms.context["link"] in text
    # The evidence, and the webhook the cabinet's software hears.
    (event,) = await EvidenceEvent.filter(kind="signer.delivery_failed",
                                          collection_id=collection.id)
    assert event.data["reason"] == reason and event.data["address"] == signer.email
    await webhooks.relay_evidence()
    hook = await WebhookEvent.get(type="signer.delivery_failed")
    assert hook.payload["data"]["reason"] == reason and words in hook.payload["data"][
        "diagnostic"]
    assert await Notification.filter(channel="webhook",
                                     dedup_key__startswith=f"webhook:{hook.id}:").exists()
    # The API and the bot show the address failing.
    api = await serialize(await Collection.get(id=collection.id), cabinet_slug="dupont")
    shown = next(s for s in api["signers"] if s["email"] == signer.email)
    assert shown["delivery_failed_at"] and words in shown["delivery_failure"]
    status = templating.render("chat/collections/status_one", "fr",
                               **await describe(await Collection.get(id=collection.id)))
    assert f"<{signer.email}> : en attente (adresse en échec" in status


async def test_relay_550_marks_signer_tells_initiator_and_texts_the_invitation(svc, firm,
                                                                                settings):
    relay = await SmtpRelay(unknown={GONE}, greylist={SLOW: 1}).start()
    settings.smtp_relay = relay.address
    try:
        collection = await _collection(svc, firm, [SignerSpec("Gaston Parti", GONE, MOBILE),
                                                   SignerSpec("Lucie Lente", SLOW)])
        gone, slow = await _invitation(GONE), await _invitation(SLOW)
        worker = mail_dispatcher(svc)
        await worker.run_once()  # 550 for one, 451 for the other
        await worker.run_once()  # the initiator's notice, recorded by the first round
        gaston = await Signer.get(collection_id=collection.id, email=GONE)
        await _check_marked(svc, collection, gaston, gone, reason="mailbox_unknown",
                            words="User unknown")
        (notice,) = relay.to("claire@dupont.fr")
        assert notice["Subject"] == "Adresse en échec : Gaston Parti n'a pas reçu « Contrat 2026 »"
        body = notice.get_body(preferencelist=("plain",)).get_content()
        assert "n'existe pas" in body and "550 5.1.1" in body and "par SMS" in body
        # The greylisted one waits for its backoff, then goes.
        waiting = await Notification.get(id=slow.id)
        assert waiting.state == "pending" and "451" in waiting.last_error
        assert not relay.to(SLOW)
        clock.fast_forward(seconds=11)
        await worker.run_once()
        assert (await Notification.get(id=slow.id)).state == "sent" and len(relay.to(SLOW)) == 1
        assert (await Signer.get(collection_id=collection.id, email=SLOW)).delivery_failed_at \
            is None
        # Every envelope sender was the message's own VERP address.
        by_rcpt = {rcpt: sender for sender, rcpt in relay.senders}
        assert by_rcpt[GONE] == deliveries.return_path(settings, gone.id)
        assert by_rcpt[SLOW] == f"bounce+{deliveries.bounce_token(settings, slow.id)}@{DOMAIN}"
        # A DSN after the 5xx for the same message acts once.
        assert not await deliveries.refused(svc, gone, "dsn_failed", "550 again")
        assert await Notification.filter(template="initiator/delivery_failed").count() == 1
        assert await Notification.filter(channel="sms").count() == 1
    finally:
        await relay.close()


def _dsn(original: dict, rcpt: str, *, action: str = "failed", status: str = "5.1.1",
         diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
         ) -> bytes:
    """A DSN as Postfix writes it (RFC 3464): text, delivery-status, the original's headers."""
    diagnostic = diagnostic.format(rcpt=rcpt)
    return (
        "From: MAILER-DAEMON@mx.client.test (Mail Delivery System)\r\n"
        f"To: {original['Return-Path'].strip('<>')}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Message-ID: <20261201.dsn.1@mx.client.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BND"\r\n'
        "\r\n--BND\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--BND\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.client.test\r\nArrival-Date: Tue,  1 Dec 2026 10:00:00 +0000\r\n"
        f"\r\nFinal-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822;{rcpt}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Remote-MTA: dns; mx.client.test\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n--BND\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {original['From']}\r\nTo: {original['To']}\r\n"
        f"Message-ID: {original['Message-ID']}\r\nSubject: Contrat 2026\r\n"
        "\r\n--BND--\r\n").encode()


async def _wait(predicate, timeout: float = 30.0):
    """Polls the database until `predicate()` holds (the timeout only stops a broken test)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _sent_to(home, address: str) -> list:
    return [m for m in outbox(home) if address in str(m["To"])]


async def test_dsn_at_the_bounce_address_does_the_same_and_is_never_answered(svc, firm,
                                                                              gateway, settings):
    collection = await _collection(svc, firm, [SignerSpec("Gaston Parti", GONE, MOBILE)])
    (invitation,) = await wait_outbox(settings.home, 1)
    gone = await _invitation(GONE)
    assert invitation["Return-Path"] == f"<{deliveries.return_path(settings, gone.id)}>"
    # A forged bounce for that message (another tag) is refused at RCPT; nothing changes.
    tag = deliveries.bounce_token(settings, gone.id).split("_")[1]
    forged = f"bounce+{gone.id}_{int(tag, 16) ^ 1:016x}@{DOMAIN}"
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(gateway.port, _dsn(invitation, GONE), mail_from="", rcpts=[forged])
    ((code, _text),) = refused.value.recipients.values()
    assert code == 550
    assert (await Notification.get(id=gone.id)).state == "sent"
    # The real DSN, from the null sender, to the message's return path.
    dsn = _dsn(invitation, GONE)
    rcpt = invitation["Return-Path"].strip("<>")
    await send(gateway.port, dsn, mail_from="", rcpts=[rcpt])

    async def failed():
        return (await Notification.get(id=gone.id)).state == "failed"
    await _wait(failed)
    gaston = await Signer.get(collection_id=collection.id, email=GONE)
    await _check_marked(svc, collection, gaston, gone, reason="dsn_failed", words="User unknown")
    assert "550 5.1.1" in (await Notification.get(id=gone.id)).last_error
    (notice,) = await _wait_for_mail(settings.home, "claire@dupont.fr")
    assert "avis de non-remise" in notice.get_body(preferencelist=("plain",)).get_content()
    # The same DSN again acts once; and nobody was ever answered.
    await send(gateway.port, dsn, mail_from="", rcpts=[rcpt])
    await _wait(lambda: _spool_empty(gateway))
    assert await EvidenceEvent.filter(kind="signer.delivery_failed").count() == 1
    assert await Notification.filter(template="initiator/delivery_failed").count() == 1
    assert not _sent_to(settings.home, "MAILER-DAEMON") and not _sent_to(settings.home, "bounce")
    assert await Notification.filter(recipient__icontains="mailer-daemon").count() == 0
    assert {str(m["To"]) for m in outbox(settings.home)} == {GONE, "claire@dupont.fr"}


async def _wait_for_mail(home, address: str, count: int = 1) -> list:
    deadline = asyncio.get_running_loop().time() + 30
    while len(_sent_to(home, address)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"no mail to {address}"
        await asyncio.sleep(0.05)
    return _sent_to(home, address)


async def _spool_empty(gateway) -> bool:
    waiting = [e for e in await gateway.spool.entries() if e.state == "pending"]
    return not waiting and gateway.worker.idle.is_set()


async def test_delayed_is_recorded_and_a_delivered_reminder_clears_the_mark(svc, firm, gateway,
                                                                             settings):
    collection = await _collection(svc, firm, [SignerSpec("Gaston Parti", GONE)])
    (invitation,) = await wait_outbox(settings.home, 1)
    gone = await _invitation(GONE)
    rcpt = invitation["Return-Path"].strip("<>")
    await send(gateway.port, _dsn(invitation, GONE, action="delayed", status="4.4.1",
                                  diagnostic="smtp; 451 4.4.1 connection timed out"),
               mail_from="", rcpts=[rcpt])

    async def delayed():
        return (await Notification.get(id=gone.id)).delivery_status == "delayed"
    await _wait(delayed)
    assert (await Notification.get(id=gone.id)).state == "sent"
    assert (await Signer.get(collection_id=collection.id)).delivery_failed_at is None
    # Then it fails for good: no mobile, so the initiator is asked to check the address.
    await send(gateway.port, _dsn(invitation, GONE), mail_from="", rcpts=[rcpt])
    (notice,) = await _wait_for_mail(settings.home, "claire@dupont.fr")
    assert "Vérifiez l'adresse" in notice.get_body(preferencelist=("plain",)).get_content()
    assert not await Notification.filter(channel="sms").exists()
    # A reminder that reaches the address (the DSN says delivered) clears the mark.
    signer = await Signer.get(collection_id=collection.id)
    await notices.remind(svc, await Collection.get(id=collection.id), signer, stage="reminder",
                         number=1)
    mails = await _wait_for_mail(settings.home, GONE, count=2)
    (reminder_mail,) = [m for m in mails if m["Message-ID"] != invitation["Message-ID"]]
    reminder = await Notification.get(template="signer/reminder", signer_id=signer.id)
    await send(gateway.port, _dsn(reminder_mail, GONE, action="delivered", status="2.0.0",
                                  diagnostic="smtp; 250 2.0.0 Ok: queued"),
               mail_from="", rcpts=[reminder_mail["Return-Path"].strip("<>")])

    async def cleared():
        return (await Signer.get(id=signer.id)).delivery_failed_at is None
    await _wait(cleared)
    assert (await Notification.get(id=reminder.id)).delivery_status == "delivered"


def test_relay_answers_are_classified_permanent_only_for_the_message():
    def refusal(exc):
        found = permanent_refusal(exc)
        return found and (found.reason, found.text)

    rcpt = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <a@b.test>: User unknown", "a@b.test")
    assert refusal(aiosmtplib.SMTPRecipientsRefused([rcpt])) == (
        "mailbox_unknown", "550 5.1.1 <a@b.test>: User unknown")
    assert refusal(aiosmtplib.SMTPRecipientRefused(550, "No such user here", "a@b.test"))[0] == \
        "mailbox_unknown"
    assert refusal(aiosmtplib.SMTPDataError(554, "5.7.1 Message rejected as spam"))[0] == \
        "relay_refused"
    # Retried: a 4xx, and a 5xx to our own sender or greeting (the relay refusing us).
    assert refusal(aiosmtplib.SMTPRecipientsRefused([
        aiosmtplib.SMTPRecipientRefused(451, "4.7.1 Greylisted", "a@b.test")])) is None
    assert refusal(aiosmtplib.SMTPSenderRefused(553, "5.7.1 Sender rejected", "x@y")) is None
    assert refusal(aiosmtplib.SMTPConnectResponseError(554, "No service")) is None
    assert refusal(aiosmtplib.SMTPServerDisconnected("gone")) is None


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_new_texts_exist_in_both_languages(language):
    ctx = {"name": "Claire", "signer_name": "Gaston", "address": GONE, "reason": "dsn_failed",
           "diagnostic": "550 5.1.1 unknown", "kind": "reminder", "by_sms": True,
           "phone": MOBILE, "collection_id": 7, "title": "Contrat", "cabinet": "dupont",
           "cabinet_name": "Cabinet Dupont"}
    mail = templating.render("mail/initiator/delivery_failed", language, **ctx)
    chat = templating.render("chat/notify/initiator/delivery_failed", language, **ctx)
    sms = templating.render("sms/signer/invitation", language, initiator="Claire",
                            cabinet_name="Cabinet Dupont", title="Contrat",
                            link="http://x/s/tok")
    for text in (mail, chat):
        assert GONE in text and MOBILE in text and "550 5.1.1 unknown" in text
    assert mail.startswith("Subject: ") and "http://x/s/tok" in sms
