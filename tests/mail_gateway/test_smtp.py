"""The SMTP session: SIZE, recipients, sender authentication, exactly-once intake."""

from __future__ import annotations

import asyncio
import os
import smtplib

import pytest

from mail_gateway.models import InboundMessage
from mail_gateway.server import size_limit
from tests.fakes.dns import make_dkim_key
from tests.mail_gateway.mailer import body_text, build, pdf_attachments, raw, send, wait_outbox
from tests.mail_gateway.hostile import pending
from tests.pdfs import make_pdf
from workflows import billing, mail_in
from workflows.actors import Actor
from workflows.models import LedgerEntry

SEAL = "seal@paraphe.localhost"


async def spooled(settings) -> list:
    return await pending(settings)


def _ehlo(port: int):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        return client.esmtp_features


async def test_size_is_advertised_and_enforced(gateway, firm, dupont_key, settings):
    features = await asyncio.to_thread(_ehlo, gateway.port)
    limit = int(features["size"])
    assert limit == size_limit(10 * 1024 * 1024)
    assert limit > 10 * 1024 * 1024 * 4 // 3  # a 10 MB PDF in base64 fits
    big = build(sender="paul@dupont.fr", to=SEAL, subject="Trop gros",
                attachments=[("gros.pdf", b"%PDF-1.7\n" + os.urandom(11 * 1024 * 1024))])
    with pytest.raises(smtplib.SMTPException) as refused:
        await send(gateway.port, dupont_key.sign(raw(big)), mail_from="paul@dupont.fr",
                   rcpts=SEAL)
    assert "552" in str(refused.value)
    assert ("Le message depasse la taille maximale : 10 Mo de pieces jointes au plus. / "
            "The message exceeds the size limit: at most 10 MB of attachments.") in str(
                refused.value)
    assert await spooled(settings) == []


def _mail_with_size(port: int, size: int):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        return client.mail("paul@dupont.fr", [f"SIZE={size}"])


async def test_a_declared_size_over_the_limit_is_refused_at_mail_from(gateway):
    code, text = await asyncio.to_thread(_mail_with_size, gateway.port, 50 * 1024 * 1024)
    assert code == 552
    assert text.startswith(b"5.3.4 Le message depasse la taille maximale : 10 Mo")
    assert b"/ The message exceeds the size limit: at most 10 MB of attachments." in text


@pytest.mark.parametrize("rcpt", ["sales@paraphe.localhost", "seal@example.com",
                                  "seal+0000deadbeef@paraphe.localhost",
                                  "collect+x@paraphe.localhost"])
async def test_unknown_recipients_are_refused_at_rcpt(rcpt, gateway, firm, dupont_key):
    msg = build(sender="paul@dupont.fr", to=rcpt, attachments=[("a.pdf", make_pdf())])
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr",
                   rcpts=rcpt)
    code, text = refused.value.recipients[rcpt]
    assert code == 550 and text.startswith(b"5.1.1 Adresse inconnue de Paraphe")
    assert b"/ No such Paraphe address" in text


def _eleven_recipients(port: int, data: bytes) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("paul@dupont.fr", [SEAL] * 11, data)


async def test_recipients_over_the_limit_are_told_why(gateway, firm, dupont_key, settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    refused = await asyncio.to_thread(_eleven_recipients, gateway.port,
                                      dupont_key.sign(raw(msg)))
    assert refused == {SEAL: (452, b"4.5.3 Trop de destinataires : 10 adresses Paraphe au plus "
                                   b"par message. / Too many recipients: at most 10 Paraphe "
                                   b"addresses per message.")}


FORGERIES = {
    "no signature": lambda msg, key, other: raw(msg),
    "signed by another domain": lambda msg, key, other: other.sign(raw(msg)),
    "tampered after signing": lambda msg, key, other: key.sign(raw(msg)).replace(
        b"Bonjour", b"Bonsoir"),
    "untrusted Authentication-Results": lambda msg, key, other: (
        b"Authentication-Results: mx.evil.example; dkim=pass header.d=dupont.fr; "
        b"dmarc=pass header.from=dupont.fr\r\n" + raw(msg)),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_sender_is_refused_at_end_of_data(forgery, gateway, firm, dupont_key, dns,
                                                        settings):
    other = dns.publish(make_dkim_key("evil.example", "s1"))
    msg = build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(gateway.port, FORGERIES[forgery](msg, dupont_key, other),
                   mail_from="paul@dupont.fr", rcpts=SEAL)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Expediteur non authentifie : ")
    assert b" / Sender not authenticated: " in refused.value.smtp_error
    assert await spooled(settings) == []
    await asyncio.sleep(0)  # nothing was queued, so nothing can arrive later either
    assert await InboundMessage.all().count() == 0
    assert await gateway.delivery.run_once() == 0
    assert await billing.balance(firm.dupont) == 20


async def test_signed_sender_who_is_not_registered_is_refused(gateway, firm, dns):
    stranger = dns.publish(make_dkim_key("ailleurs.fr", "k"))
    msg = build(sender="jean@ailleurs.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(gateway.port, stranger.sign(raw(msg)), mail_from="jean@ailleurs.fr",
                   rcpts=SEAL)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error == (
        b"5.7.1 Expediteur inconnu : cette adresse n'est inscrite dans aucun cabinet Paraphe. / "
        b"Unknown sender: this address is not registered with any Paraphe cabinet.")


async def test_secret_address_authenticates_without_dkim(gateway, firm, settings):
    address = mail_in.address_for(settings, firm.paul)
    # The From is not signed: the secret address alone identifies Paul, and the reply goes to
    # his registered address whatever the From says.
    msg = build(sender="Paul <paul.perso@gmail.example>", to=address, subject="Mission",
                attachments=[("mission.pdf", make_pdf())])
    await send(gateway.port, raw(msg), mail_from="paul.perso@gmail.example", rcpts=address)
    (reply,) = await wait_outbox(settings.home, 1)
    assert reply["To"] == "paul@dupont.fr"
    assert [n for n, _ in pdf_attachments(reply)] == ["mission-scelle.pdf"]
    record = await InboundMessage.get()
    assert record.auth == {"method": "secret"}


async def test_secret_address_with_cabinet_picks_the_cabinet(gateway, firm, settings):
    from workflows.models import Cabinet

    await billing.add_credit(Actor.operator(), await Cabinet.get(slug="martin"), 3)
    address = mail_in.address_for(settings, firm.claire, "martin")
    msg = build(sender="claire@dupont.fr", to=address, subject="Statuts",
                attachments=[("statuts.pdf", make_pdf())])
    await send(gateway.port, raw(msg), mail_from="claire@dupont.fr", rcpts=address)
    (reply,) = await wait_outbox(settings.home, 1)
    assert "Cabinet Martin (martin)" in body_text(reply)
    assert await billing.balance(await Cabinet.get(slug="martin")) == 2


async def test_trusted_upstream_authentication_results(svc, firm, dns, settings):
    from tests.dispatching import mail_dispatcher
    from mail_gateway.server import start_gateway

    settings.trusted_authserv_ids = "mx.dupont-relay.fr"
    settings.trusted_relays = "127.0.0.1"  # the tests' SMTP client plays the relay
    settings.smtp_port = 0
    gw = await start_gateway(svc, dns=dns)
    worker = mail_dispatcher(svc, poll_interval=0.2)
    worker.start()
    try:
        msg = build(sender="paul@dupont.fr", to=SEAL, subject="Via relais",
                    attachments=[("a.pdf", make_pdf())])
        data = (b"Authentication-Results: mx.dupont-relay.fr; spf=pass; dkim=pass "
                b"header.d=dupont.fr; dmarc=pass (p=reject) header.from=dupont.fr\r\n" + raw(msg))
        await send(gw.port, data, mail_from="paul@dupont.fr", rcpts=SEAL)
        (reply,) = await wait_outbox(settings.home, 1)
        assert [n for n, _ in pdf_attachments(reply)] == ["a-scelle.pdf"]
        assert (await InboundMessage.get()).auth == {
            "method": "upstream", "domain": "dupont.fr", "authserv_id": "mx.dupont-relay.fr"}
        # The trusted relay's result only counts when it is the topmost one, and only for
        # the From domain it names.
        forged = (b"Authentication-Results: mx.dupont-relay.fr; dmarc=pass "
                  b"header.from=other.fr\r\n" + raw(build(sender="paul@dupont.fr", to=SEAL)))
        with pytest.raises(smtplib.SMTPDataError):
            await send(gw.port, forged, mail_from="paul@dupont.fr", rcpts=SEAL)
    finally:
        await worker.stop()
        await gw.close()


async def test_redelivered_message_is_processed_once(gateway, firm, dupont_key, settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Une fois",
                attachments=[("a.pdf", make_pdf())], message_id="<once@dupont.fr>")
    data = dupont_key.sign(raw(msg))
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=SEAL)
    await wait_outbox(settings.home, 1)
    # The same message again, as a relay that retried would send it (with one more trace header).
    await send(gateway.port, b"Received: from relay by paraphe; Mon, 1 Jan 2026 00:00:00 +0000"
               b"\r\n" + data, mail_from="paul@dupont.fr", rcpts=SEAL)
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=SEAL)
    await gateway.worker.idle.wait()
    await gateway.delivery.run_once()
    assert len(await wait_outbox(settings.home, 2, timeout=1)) == 1
    assert await LedgerEntry.filter(kind="debit").count() == 1
    assert await InboundMessage.all().count() == 1
    assert await spooled(settings) == []


async def test_same_message_id_with_other_content_is_another_message(gateway, firm, dupont_key,
                                                                     settings):
    for text in ("Premier", "Second"):
        msg = build(sender="paul@dupont.fr", to=SEAL, subject=text, message_id="<same@dupont.fr>",
                    attachments=[(f"{text}.pdf", make_pdf(text=text))])
        await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr",
                   rcpts=SEAL)
    assert len(await wait_outbox(settings.home, 2)) == 2
    assert await LedgerEntry.filter(kind="debit").count() == 2


async def test_help_lists_what_the_sender_may_do_per_cabinet(gateway, firm, dupont_key, settings):
    msg = build(sender="claire@dupont.fr", to="help@paraphe.localhost", subject="Aide")
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts="help@paraphe.localhost")
    (reply,) = await wait_outbox(settings.home, 1)
    text = body_text(reply)
    assert reply["Subject"] == "Re: Aide"
    assert "[dupont] Cabinet Dupont (expert-comptable)" in text
    assert "[martin] Cabinet Martin (expert-comptable)" in text
    assert "droits : signer, sceller, préparer, lancer" in text
    assert mail_in.address_for(settings, firm.claire, "martin") in text
    assert "collect@paraphe.localhost" in text
    for command in ("seal", "collect", "verify", "help"):
        address = mail_in.address_for(settings, firm.claire, command=command)
        assert address.startswith(f"{command}+") and f"- {command} : {address}" in text
    nadia = build(sender="nadia@dupont.fr", to="help@paraphe.localhost", subject="Aide")
    await send(gateway.port, dupont_key.sign(raw(nadia)), mail_from="nadia@dupont.fr",
               rcpts="help@paraphe.localhost")
    replies = await wait_outbox(settings.home, 2)
    assert "droits : aucun pour le moment" in body_text(replies[1])
