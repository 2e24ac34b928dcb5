"""E-mail alone is enough: a collaborator prepares by collect@, the expert answers the
approval-request mail with `OK` (the signers are invited) or `REFUS <motif>` (rejected),
from a mail client that does not sign its mail, through the request's Reply-To."""

from __future__ import annotations

from email.utils import parseaddr

import pytest

from mail_gateway.approval_replies import decision
from tests.mail_gateway.mailer import body_text, build, outbox, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import delegations, mail_in
from workflows.actors import Actor
from workflows.models import Collection, Notification

COLLECT = "collect@paraphe.localhost"


async def _prepare(gateway, firm, dupont_key, settings, *, title: str, seen: int) -> tuple:
    """Paul (prepare, no launch) sends a collection by collect@; returns the collection and
    the approval request as Claire's mail client received it."""
    await delegations.grant(Actor.operator(), firm.paul, firm.dupont, "prepare")
    msg = build(sender="Paul Martin <paul@dupont.fr>", to=COLLECT, subject=f"[dupont] {title}",
                body="Jean Client <jean@client.fr>\n",
                attachments=[("lettre.pdf", make_pdf(text=title))])
    await send(gateway.port, dupont_key.sign(raw(msg)), mail_from="paul@dupont.fr",
               rcpts=COLLECT)
    messages = await wait_outbox(settings.home, seen + 2)
    request = next(m for m in messages[seen:] if m["To"] == "claire@dupont.fr")
    collection = await Collection.get(title=title)
    assert collection.state == "awaiting_approval"
    return collection, request


def _reply(request, first_line: str, *, message_id: str) -> bytes:
    """Claire's mail client answering: to the Reply-To, threaded, the request quoted."""
    quoted = "\n".join(f"> {line}" for line in body_text(request).splitlines())
    msg = build(sender="Claire Dupont <claire@dupont.fr>", to=request["Reply-To"],
                subject=f"Re: {request['Subject']}", message_id=message_id,
                body=f"{first_line}\n\nLe {request['Date']}, Paraphe a écrit :\n{quoted}\n",
                headers={"In-Reply-To": request["Message-ID"],
                         "References": request["Message-ID"]})
    return raw(msg)  # Not DKIM-signed: the secret Reply-To address authenticates it.


async def test_ok_to_the_approval_mail_launches_and_refus_rejects(gateway, firm, dupont_key,
                                                                   settings):
    collection, request = await _prepare(gateway, firm, dupont_key, settings,
                                         title="Lettre de mission 2027", seen=0)
    reply_to = parseaddr(request["Reply-To"])[1]
    assert reply_to == mail_in.address_for(settings, firm.claire, command="collect")
    assert "OK" in body_text(request) and "REFUS" in body_text(request)
    assert f"{settings.public_url}/c/dupont/collections?state=awaiting_approval" in \
        body_text(request)

    await send(gateway.port, _reply(request, "OK", message_id="<ok-1@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    messages = await wait_outbox(settings.home, 5)  # + the invitation, Claire's and Paul's news
    assert (await Collection.get(id=collection.id)).state == "in_progress"
    invitation = next(m for m in messages[2:] if m["To"] == "jean@client.fr")
    assert "/s/" in body_text(invitation)
    # The client's reply to their invitation reaches the person who prepared it.
    assert parseaddr(invitation["Reply-To"])[1] == "paul@dupont.fr"
    done = next(m for m in messages[2:] if m["In-Reply-To"] == "<ok-1@dupont.fr>")
    assert "validée et lancée" in body_text(done)

    other, request2 = await _prepare(gateway, firm, dupont_key, settings,
                                     title="Mission sociale", seen=len(outbox(settings.home)))
    seen = len(outbox(settings.home))
    await send(gateway.port, _reply(request2, "REFUS trop cher", message_id="<no-1@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    messages = await wait_outbox(settings.home, seen + 2)  # Claire's confirmation, Paul's news
    rejected = await Collection.get(id=other.id)
    assert rejected.state == "cancelled"
    assert (await Notification.filter(template="initiator/rejected").first()).context[
        "reason"] == "trop cher"
    done = next(m for m in messages[seen:] if m["In-Reply-To"] == "<no-1@dupont.fr>")
    assert "trop cher" in body_text(done)
    assert not any(m["To"] == "jean@client.fr" for m in messages[seen:])


async def test_a_reply_that_says_neither_or_comes_from_someone_else_changes_nothing(
        gateway, firm, dupont_key, settings):
    collection, request = await _prepare(gateway, firm, dupont_key, settings,
                                         title="Lettre", seen=0)
    reply_to = parseaddr(request["Reply-To"])[1]
    await send(gateway.port, _reply(request, "Je regarde demain", message_id="<m-1@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    (answer,) = (await wait_outbox(settings.home, 3))[2:]
    assert "n'a pas été comprise" in body_text(answer) and "REFUS" in body_text(answer)
    # REFUS with no reason: told that a reason is needed.
    await send(gateway.port, _reply(request, "REFUS", message_id="<m-2@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    (answer,) = (await wait_outbox(settings.home, 4))[3:]
    assert answer["In-Reply-To"] == "<m-2@dupont.fr>"
    assert "indiquez le motif du refus après le mot REFUS" in body_text(answer)
    # Nadia (no launch right) answering the request she was forwarded: it is not hers, so
    # it reads as a collect@ mail without a PDF, and is refused as such.
    forwarded = _reply(request, "OK", message_id="<m-3@dupont.fr>").replace(
        b"claire@dupont.fr", b"nadia@dupont.fr")
    await send(gateway.port, forwarded, mail_from="nadia@dupont.fr",
               rcpts=mail_in.address_for(settings, firm.nadia, command="collect"))
    (answer,) = (await wait_outbox(settings.home, 5))[4:]
    assert answer["To"] == "nadia@dupont.fr" and "aucune pièce jointe" in body_text(answer)
    assert (await Collection.get(id=collection.id)).state == "awaiting_approval"
    # Approved once by mail, a second OK is told the collection is already launched.
    await send(gateway.port, _reply(request, "OK", message_id="<m-4@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    await send(gateway.port, _reply(request, "VALIDER", message_id="<m-5@dupont.fr>"),
               mail_from="claire@dupont.fr", rcpts=reply_to)
    messages = await wait_outbox(settings.home, 9)  # 2 answers, the invitation, Paul's news
    answers = [body_text(m) for m in messages if m["In-Reply-To"] in ("<m-4@dupont.fr>",
                                                                      "<m-5@dupont.fr>")]
    # The two are processed side by side: whichever comes second is told, not both.
    assert sorted("est déjà lancée : rien n'a changé" in a for a in answers) == [False, True]
    assert (await Collection.get(id=collection.id)).state == "in_progress"


@pytest.mark.parametrize(("text", "expected"), [
    ("OK", ("approve", "")), ("ok.", ("approve", "")), ("  Valider !\n> quoted", ("approve", "")),
    ("\n\nVALIDER", ("approve", "")), ("REFUS trop cher", ("reject", "trop cher")),
    ("refus : montant à revoir", ("reject", "montant à revoir")), ("REFUS", ("reject", "")),
    ("OK mais", None), ("Okay pour moi", None), ("Je valide", None), ("", None),
    ("> OK", None),
])
def test_only_the_first_line_decides(text, expected):
    assert decision(text) == expected
