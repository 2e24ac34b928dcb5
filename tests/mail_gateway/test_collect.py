"""collect@ end to end: smtplib against the real gateway starts a collection, or says which lines
it could not read."""

from __future__ import annotations

import asyncio

from tests.mail_gateway.mailer import body_text, build, outbox, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows.models import Collection, Reservation, Signer

COLLECT = "collect@paraphe.localhost"


async def test_collect_mail_starts_an_ordered_collection_and_invites_the_first_signer(
        gateway, firm, dupont_key, settings):
    body = ("Bonjour,\n\nJean Client <jean@client.fr>\n"
            "Marie Client <marie@client.fr> +33 6 12 34 56 78\nordre: oui\n")
    msg = build(sender="Claire Dupont <claire@dupont.fr>", to=COLLECT,
                subject="[dupont] Lettre de mission 2027", body=body,
                attachments=[("lettre.pdf", make_pdf(text="Lettre de mission"))],
                message_id="<c1@dupont.fr>")
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts=COLLECT)

    messages = await wait_outbox(settings.home, 2)
    reply = next(m for m in messages if m["To"] == "claire@dupont.fr")
    assert reply["In-Reply-To"] == "<c1@dupont.fr>"
    assert "jean@client.fr" in body_text(reply) and "marie@client.fr" in body_text(reply)
    invitation = next(m for m in messages if "jean@client.fr" in m["To"])
    assert "/s/" in body_text(invitation)

    collection = await Collection.get(cabinet_id=firm.dupont.id)
    assert collection.state == "in_progress" and collection.ordered
    signers = await Signer.filter(collection=collection).order_by("position")
    assert [(s.email, s.phone) for s in signers] == [("jean@client.fr", None),
                                                     ("marie@client.fr", "+33612345678")]
    await asyncio.sleep(0.5)  # no second invitation may follow: marie's turn comes later
    assert not any("marie@client.fr" in m["To"] for m in outbox(settings.home))


async def test_collect_mail_with_unreadable_lines_creates_nothing_and_lists_them(
        gateway, firm, dupont_key, settings):
    msg = build(sender="claire@dupont.fr", to=COLLECT, subject="[dupont] Mission",
                body="Jean Client <jean@client.fr>\nMarie Client <marie.client.fr>\n",
                attachments=[("lettre.pdf", make_pdf(text="Lettre"))])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts=COLLECT)
    (reply,) = await wait_outbox(settings.home, 1)
    assert "Marie Client <marie.client.fr>" in body_text(reply)
    assert await Collection.all().count() == 0


async def test_collect_mail_with_a_pdf_that_could_not_be_signed_says_why(
        gateway, firm, dupont_key, settings):
    pdf = make_pdf(2, text="Lettre").replace(b"/Count 2", b"/Count 9")
    msg = build(sender="claire@dupont.fr", to=COLLECT, subject="[dupont] Mission",
                body="Jean Client <jean@client.fr>\n", attachments=[("lettre.pdf", pdf)])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts=COLLECT)
    (reply,) = await wait_outbox(settings.home, 1)
    assert "9 pages" in body_text(reply) and "2" in body_text(reply)
    assert await Collection.all().count() == 0 and await Reservation.all().count() == 0
