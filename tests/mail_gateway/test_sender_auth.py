"""Sender authentication through the real server: trusted relays, replayed DKIM mail, alignment."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from mail_gateway.models import InboundMessage
from mail_gateway.sender_auth import aligned
from tests.fakes.dns import make_dkim_key
from tests.mail_gateway.mailer import build, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import billing, delegations, people
from workflows.actors import Actor
from workflows.models import LedgerEntry

SEAL = "seal@paraphe.localhost"
RELAY_ID = "mx.dupont-relay.fr"
# What the cabinet's relay writes after checking Paul's mail itself.
PASS = (b"Authentication-Results: mx.dupont-relay.fr; spf=pass smtp.mailfrom=dupont.fr; "
        b"dkim=pass header.d=dupont.fr; dmarc=pass (p=reject) header.from=dupont.fr\r\n")


@pytest.fixture
def relays(request, settings):
    """The relays trusted by the gateway started next: 127.0.0.1 (the tests' peer) or not."""
    settings.trusted_authserv_ids = RELAY_ID
    settings.trusted_relays = request.param
    return request.param


async def _refused(port, data, *, mail_from="paul@dupont.fr", rcpts=SEAL) -> bytes:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(port, data, mail_from=mail_from, rcpts=rcpts)
    assert refused.value.smtp_code == 550
    return refused.value.smtp_error


async def _nothing_happened(firm) -> None:
    await asyncio.sleep(0)
    assert await InboundMessage.all().count() == 0
    assert await LedgerEntry.filter(kind="debit").count() == 0
    assert await billing.balance(firm.dupont) == 20


@pytest.mark.parametrize("relays", ["192.0.2.0/24, 2001:db8::/32"], indirect=True)
async def test_trusted_results_from_an_untrusted_peer_are_refused(relays, gateway, firm):
    # The authserv-id is trusted, but the header was written by the SMTP client itself.
    msg = build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    text = await _refused(gateway.port, PASS + raw(msg))
    assert text.startswith(b"5.7.1 ")
    await _nothing_happened(firm)


@pytest.mark.parametrize("relays", ["10.0.0.0/8, 127.0.0.1"], indirect=True)
async def test_trusted_results_from_a_trusted_relay_are_believed(relays, gateway, firm, settings):
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Via relais",
                attachments=[("a.pdf", make_pdf())])
    await send(gateway.port, PASS + raw(msg), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["a-scelle.pdf"]
    assert (await InboundMessage.get()).auth == {
        "method": "upstream", "domain": "dupont.fr", "authserv_id": RELAY_ID}
    assert await billing.balance(firm.dupont) == 19


@pytest.mark.parametrize("relays", ["127.0.0.0/8"], indirect=True)
async def test_only_the_topmost_trusted_result_is_read(relays, gateway, firm, settings):
    # The relay found no valid signature; the pass below it came with the message.
    forged = PASS + raw(build(sender="paul@dupont.fr", to=SEAL,
                              attachments=[("a.pdf", make_pdf())]))
    relay_says = (b"Authentication-Results: mx.dupont-relay.fr; dkim=none; "
                  b"dmarc=fail header.from=dupont.fr\r\n")
    await _refused(gateway.port, relay_says + forged)
    await _nothing_happened(firm)
    # Another host's result above the relay's (an internal hop, untrusted id) is skipped.
    hop = b"Authentication-Results: filter.dupont.fr; dkim=fail\r\n"
    await send(gateway.port, hop + PASS + raw(build(sender="paul@dupont.fr", to=SEAL,
               attachments=[("b.pdf", make_pdf())])), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["b-scelle.pdf"]


@pytest.mark.parametrize("relays", [""], indirect=True)
async def test_no_trusted_relay_means_no_trusted_result(relays, gateway, firm):
    msg = build(sender="paul@dupont.fr", to=SEAL, attachments=[("a.pdf", make_pdf())])
    await _refused(gateway.port, PASS + raw(msg))
    await _nothing_happened(firm)


ELSEWHERE = {
    # Paul's signed mail to a client, resent as it is to seal@ by whoever received it.
    "to a client": {"to": "client@ailleurs.example"},
    # Paul's mail to verify@ (free), replayed to seal@ to get it sealed and billed.
    "to verify@": {"to": "verify@paraphe.localhost"},
    # A To header added above the signed one is not covered by the signature.
    "seal@ added in an unsigned To": {"to": "client@ailleurs.example", "prepend": SEAL},
}


@pytest.mark.parametrize("case", list(ELSEWHERE))
async def test_signed_mail_addressed_elsewhere_does_not_authenticate(case, gateway, firm,
                                                                     dupont_key):
    msg = build(sender="paul@dupont.fr", to=ELSEWHERE[case]["to"], subject="Contrat",
                attachments=[("contrat.pdf", make_pdf())])
    data = dupont_key.sign(raw(msg))
    if "prepend" in ELSEWHERE[case]:
        data = f"To: {ELSEWHERE[case]['prepend']}\r\n".encode() + data
    text = await _refused(gateway.port, data)
    assert text.startswith(b"5.7.1 ")
    assert b"(To ou Cc)" in text and b"(To or Cc)" in text
    await _nothing_happened(firm)


async def test_signed_mail_with_seal_in_copy_authenticates(gateway, firm, dupont_key, settings):
    msg = build(sender="paul@dupont.fr", to="client@ailleurs.example", subject="Contrat",
                headers={"Cc": "Paraphe <SEAL@paraphe.localhost>"},
                attachments=[("contrat.pdf", make_pdf())])
    data = dupont_key.sign(raw(msg), headers=(b"from", b"to", b"cc", b"subject", b"date"))
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["contrat-scelle.pdf"]


@pytest.mark.parametrize("relays", ["127.0.0.1/32"], indirect=True)
async def test_through_a_trusted_relay_the_envelope_recipient_suffices(relays, gateway, firm,
                                                                       dupont_key, settings):
    # Paul wrote to his client with seal@ in Bcc; his relay delivered the copy to seal@.
    msg = build(sender="paul@dupont.fr", to="client@ailleurs.example", subject="Contrat",
                attachments=[("contrat.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert [n for n, _ in pdf_attachments(reply)] == ["contrat-scelle.pdf"]
    assert (await InboundMessage.get()).auth == {"method": "dkim", "domain": "dupont.fr"}


async def test_a_public_suffix_signature_does_not_align(gateway, firm, dns):
    # Whoever holds a key under co.uk must not speak for every *.co.uk sender.
    op = Actor.operator()
    james, _ = await people.add_person(op, email="james@dupont.co.uk", name="James Dupont",
                                       cabinet="dupont", role="collaborator", language="en")
    await delegations.grant(op, james, firm.dupont, "seal")
    suffix_key = dns.publish(make_dkim_key("co.uk", "s1"))
    msg = build(sender="james@dupont.co.uk", to=SEAL, attachments=[("a.pdf", make_pdf())])
    text = await _refused(gateway.port, suffix_key.sign(raw(msg)),
                          mail_from="james@dupont.co.uk")
    assert text.startswith(b"5.7.1 ")
    await _nothing_happened(firm)


@pytest.mark.parametrize("signer, sender, expected", [
    ("co.uk", "dupont.co.uk", False),
    ("co.uk", "co.uk", False),
    ("dupont.co.uk", "mail.dupont.co.uk", True),
    ("mail.dupont.co.uk", "dupont.co.uk", True),  # relaxed: the same organisational domain
    ("other.co.uk", "dupont.co.uk", False),
    ("DUPONT.FR.", "dupont.fr", True),
    ("fr", "dupont.fr", False),
    ("github.io", "dupont.github.io", False),  # a suffix of the list's private section
    ("paul.github.io", "jean.github.io", False),
    ("com", "dupont.com", False),
])
def test_alignment_uses_the_public_suffix_list(signer, sender, expected):
    assert aligned(signer, sender) is expected
