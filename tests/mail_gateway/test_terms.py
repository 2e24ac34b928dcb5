"""Mail to a cabinet whose expert has not accepted the terms in force: refused, and told why."""

from __future__ import annotations

from mail_gateway.models import InboundMessage
from tests.mail_gateway.mailer import body_text, build, pdf_attachments, raw, send, wait_outbox
from tests.pdfs import make_pdf
from tests.terms import NEW, publish_new_version
from workflows import billing, terms
from workflows.actors import Actor
from workflows.models import Collection, LedgerEntry

SEAL = "seal@paraphe.localhost"
COLLECT = "collect@paraphe.localhost"


async def test_seal_and_collect_refused_until_the_expert_accepts_the_new_terms(
        gateway, firm, dupont_key, settings, tmp_path):
    publish_new_version(settings, tmp_path)

    # A collaborator (writes in English) is told to ask the expert.
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Contrat",
                attachments=[("contrat.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    (reply,) = await wait_outbox(settings.home, 1)
    assert reply["To"] == "paul@dupont.fr" and reply["In-Reply-To"] == msg["Message-ID"]
    text = " ".join(body_text(reply).split())
    assert f"the firm dupont is not open yet: its chartered accountant must first accept " \
           f"Paraphe's terms of use (version {NEW})" in text
    assert "Ask the firm's chartered accountant to accept them" in text
    assert pdf_attachments(reply) == []

    # The expert (in French) is told how to accept: /terms or the operator's command.
    msg = build(sender="claire@dupont.fr", to=COLLECT, subject="[dupont] Mission",
                body="Jean Client <jean@client.fr>\n",
                attachments=[("lettre.pdf", make_pdf(text="Lettre"))])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="claire@dupont.fr",
               rcpts=COLLECT)
    replies = await wait_outbox(settings.home, 2)
    text = " ".join(body_text(replies[-1]).split())
    assert "le cabinet dupont n'est pas encore ouvert" in text
    assert "Vous êtes son expert-comptable : envoyez /terms au bot Telegram Paraphe" in text
    assert "paraphe terms accept dupont" in text

    assert await LedgerEntry.filter(kind="debit").count() == 0
    assert await billing.balance(firm.dupont) == 20
    assert await Collection.all().count() == 0
    assert await InboundMessage.filter(state="done").count() == 2

    # Once accepted, the same mail is sealed.
    await terms.accept_terms(settings, Actor(firm.claire.id, "cli"), firm.dupont, NEW)
    msg = build(sender="paul@dupont.fr", to=SEAL, subject="Contrat 2",
                attachments=[("contrat.pdf", make_pdf())])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr", rcpts=SEAL)
    replies = await wait_outbox(settings.home, 3)
    assert [n for n, _ in pdf_attachments(replies[-1])] == ["contrat-scelle.pdf"]
