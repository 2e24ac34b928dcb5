"""collect@ by mail: reading signers from the body, and the collection it starts (once)."""

from __future__ import annotations

from tests.workflows.collection_world import pdf, world, world_settings  # noqa: F401
from workflows.collect_mail import collect_from_mail
from workflows.collections import SignerSpec, parse_body
from workflows.models import Collection, Notification

BODY = """Bonjour,

Merci de faire signer la lettre de mission :

Jean Martin <jean.martin@example.test>
- Marie Curie <marie@example.test> +33 6 12 34 56 78
bob@example.test, 06 11 22 33 44
ordre: oui

--
Anne Dupré, expert-comptable
Claire <claire@example.test>
"""


def test_parse_body_reads_signers_order_and_stops_at_signature():
    request = parse_body(BODY)
    assert request.signers == [
        SignerSpec("Jean Martin", "jean.martin@example.test"),
        SignerSpec("Marie Curie", "marie@example.test", "+33612345678"),
        SignerSpec("bob@example.test", "bob@example.test", "+33611223344"),
    ]
    assert request.ordered is True
    assert request.unreadable == []


def test_parse_body_lists_unreadable_lines():
    request = parse_body("Jean <jean@example>\nMarie marie@@example.test\n"
                         "Paul <paul@example.test> +33 12\nordre: peut-être\nOK <ok@example.test>")
    assert request.unreadable == ["Jean <jean@example>", "Marie marie@@example.test",
                                  "Paul <paul@example.test> +33 12", "ordre: peut-être"]
    assert [s.email for s in request.signers] == ["ok@example.test"]


async def test_collect_from_mail_starts_once(world):
    actor = world.actor(world.expert, "mail")
    args = dict(cabinet="dupre", subject="[dupre] Lettre de mission 2026", body=BODY,
                attachments=[("mission.pdf", pdf())], key="msgid-1")
    first = await collect_from_mail(world.svc, actor, **args)
    again = await collect_from_mail(world.svc, actor, **args)
    assert first.collection.id == again.collection.id
    assert await Collection.all().count() == 1
    collection = first.collection
    assert collection.state == "in_progress" and collection.ordered
    assert collection.title == "Lettre de mission 2026" and collection.channel == "mail"
    # Set order: only the first signer is asked for now.
    invited = await Notification.filter(template="signer/invitation").values_list("recipient",
                                                                                  flat=True)
    assert invited == ["jean.martin@example.test"]


async def test_collect_from_mail_with_unreadable_line_creates_nothing(world):
    result = await collect_from_mail(
        world.svc, world.actor(world.preparer, "mail"), cabinet="dupre", subject="x",
        body="Jean <jean@example>\n", attachments=[("m.pdf", pdf())], key="msgid-2")
    assert result.collection is None and result.request.unreadable == ["Jean <jean@example>"]
    assert await Collection.all().count() == 0


async def test_collect_by_preparer_waits_for_approval_and_reply_renders(world):
    from mail_gateway.delivery import render_mail

    result = await collect_from_mail(
        world.svc, world.actor(world.preparer, "mail"), cabinet="dupre", subject="Bilan",
        body="Jean Martin <jean@example.test>", attachments=[("bilan.pdf", pdf())], key="m3")
    assert result.collection.state == "awaiting_approval"
    context = {"name": "Paul", "mail_domain": "paraphe.localhost", "thread": {"subject": "Re: x"},
               "unreadable": [], "signers": [{"name": "Jean", "email": "jean@example.test"}],
               "collection_id": result.collection.id, "state": result.collection.state,
               "ordered": False, "title": "Bilan", "documents": ["bilan.pdf"]}
    for lang in ("fr", "en"):
        subject, body = render_mail("mail/initiator/collect_started", lang, context)
        assert subject == "Re: x" and "bilan.pdf" in body
        subject, body = render_mail("mail/initiator/collect_unreadable", lang,
                                    {**context, "unreadable": ["Jean <jean@x>"]})
        assert "Jean <jean@x>" in body
    approval = await Notification.filter(template="approver/approval_request").first()
    subject, body = render_mail("mail/approver/approval_request", "fr", approval.context)
    assert "Bilan" in subject and "jean@example.test" in body
