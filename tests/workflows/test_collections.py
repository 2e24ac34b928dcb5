"""The collection state machine through the core API: launch, approval, sign, decline, cancel,
credit."""

from __future__ import annotations

import asyncio

import pytest

from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    last_mail,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import billing, collections
from workflows.collections import SignerSpec
from workflows.errors import (
    AlreadySignedError,
    CollectionNotFoundError,
    CollectionStateError,
    ConsentRequiredError,
    CreditInsufficientError,
    DelegationMissingError,
    LinkExpiredError,
    NotYourTurnError,
)
from workflows.models import Collection, EvidenceEvent, Notification, Signer

WEB = dict(ip="127.0.0.1", user_agent="pytest")


async def _create(world, actor_person, n=2, **kw):
    signers = [SignerSpec(f"Client {i}", f"client{i}@example.test") for i in range(1, n + 1)]
    return await collections.create_collection(
        world.svc, world.actor(actor_person), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=signers, **kw)


async def _sign(world, email):
    token = token_of(await link_of(email))
    await collections.send_code(world.svc, token, "mail")
    return await collections.sign_with_code(world.svc, token, await code_of(email),
                                            consent=True, **WEB)


async def test_launch_holder_launches_at_once_and_reserves_credit(world):
    collection = await _create(world, world.launcher, n=3)
    assert collection.state == "in_progress"
    assert collection.expires_at is not None
    summary = await billing.summary(world.cabinet)
    assert (summary.available, summary.reserved) == (97, 3)
    for i in (1, 2, 3):
        mail = await last_mail(f"client{i}@example.test", "signer/invitation")
        assert "/s/" in mail.context["link"]
    # The token is stored hashed only.
    signer = await Signer.get(collection_id=collection.id, position=1)
    assert token_of(await link_of("client1@example.test")) not in signer.token_hash


async def test_parallel_collection_completes_and_gives_back_nothing_twice(world):
    collection = await _create(world, world.expert, n=2)
    await _sign(world, "client1@example.test")
    await _sign(world, "client2@example.test")
    fresh = await Collection.get(id=collection.id)
    assert fresh.state == "completed"
    assert fresh.finalized_at is not None and fresh.report_pdf_id is not None
    summary = await billing.summary(world.cabinet)
    assert (summary.available, summary.reserved) == (98, 0)
    done = await last_mail("expert@dupre.test", "initiator/completed")
    assert len(done.attachments) == 2
    kinds = [e.kind for e in await EvidenceEvent.filter(collection_id=collection.id)
             .order_by("seq")]
    assert kinds.count("signer.signed") == 2 and "collection.report_sealed" in kinds


async def test_no_credit_nothing_created(world):
    await billing.set_tariff(world.cabinet, "signature", 60)
    with pytest.raises(CreditInsufficientError):
        await _create(world, world.launcher, n=2)
    assert await Collection.all().count() == 0
    assert (await billing.summary(world.cabinet)).available == 100


async def test_preparer_needs_approval_then_approver_launches(world):
    collection = await _create(world, world.preparer, n=1)
    assert collection.state == "awaiting_approval"
    assert (await billing.summary(world.cabinet)).reserved == 0
    # The expert and the launch holder are asked; the preparer is not.
    asked = {n.recipient for n in await Notification.filter(template="approver/approval_request")}
    assert asked == {"expert@dupre.test", "launch@dupre.test"}
    assert [c.id for c in await collections.pending_approvals(world.launcher)] == [collection.id]
    assert await collections.pending_approvals(world.preparer) == []
    with pytest.raises(DelegationMissingError):
        await collections.approve_collection(world.svc, world.actor(world.preparer), collection.id)
    assert not await Notification.filter(template="signer/invitation").exists()
    launched = await collections.approve_collection(world.svc, world.actor(world.launcher),
                                                    collection.id)
    assert launched.state == "in_progress" and launched.approved_by_id == world.launcher.id
    assert await Notification.filter(template="signer/invitation").count() == 1
    assert await Notification.filter(template="initiator/approved",
                                     recipient="prep@dupre.test").exists()
    with pytest.raises(CollectionStateError):
        await collections.approve_collection(world.svc, world.actor(world.expert), collection.id)


async def test_reject_with_reason(world):
    collection = await _create(world, world.preparer, n=1)
    rejected = await collections.reject_collection(world.svc, world.actor(world.expert),
                                                   collection.id, "Mauvais document")
    assert rejected.state == "cancelled" and rejected.rejection_reason == "Mauvais document"
    mail = await last_mail("prep@dupre.test", "initiator/rejected")
    assert mail.context["reason"] == "Mauvais document"
    assert await EvidenceEvent.filter(kind="collection.rejected").exists()


async def test_sequential_order(world):
    collection = await _create(world, world.expert, n=2, ordered=True)
    assert await Notification.filter(template="signer/invitation").count() == 1
    # The second signer's link (known from the database) does not work before their turn.
    second = await Signer.get(collection_id=collection.id, position=2)
    from workflows import links
    token2 = links.token_for(world.svc.settings, second.id, collection.id)
    with pytest.raises(NotYourTurnError):
        await collections.send_code(world.svc, token2, "mail")
    await _sign(world, "client1@example.test")
    assert await Notification.filter(template="signer/invitation").count() == 2
    await _sign(world, "client2@example.test")
    assert (await Collection.get(id=collection.id)).state == "completed"


async def test_decline_ends_collection_and_releases_credit(world):
    collection = await _create(world, world.expert, n=3)
    await _sign(world, "client1@example.test")
    token = token_of(await link_of("client2@example.test"))
    await collections.decline(world.svc, token, "Je ne suis pas d'accord", **WEB)
    fresh = await Collection.get(id=collection.id)
    assert fresh.state == "declined"
    summary = await billing.summary(world.cabinet)
    assert (summary.available, summary.reserved) == (99, 0)  # one signature used
    mail = await last_mail("expert@dupre.test", "initiator/declined")
    assert mail.context["reason"] == "Je ne suis pas d'accord"
    token3 = token_of(await link_of("client3@example.test"))
    with pytest.raises(LinkExpiredError):
        await collections.send_code(world.svc, token3, "mail")


async def test_cancel_by_initiator_only(world):
    collection = await _create(world, world.launcher, n=2)
    with pytest.raises(CollectionNotFoundError):
        await collections.cancel_collection(world.svc, world.actor(world.outsider), collection.id)
    with pytest.raises(DelegationMissingError):
        await collections.cancel_collection(world.svc, world.actor(world.preparer), collection.id)
    await collections.cancel_collection(world.svc, world.actor(world.launcher), collection.id)
    assert (await Collection.get(id=collection.id)).state == "cancelled"
    assert (await billing.summary(world.cabinet)).available == 100
    assert await Notification.filter(template="signer/cancelled").count() == 2
    with pytest.raises(CollectionStateError):
        await collections.cancel_collection(world.svc, world.actor(world.expert), collection.id)


async def test_consent_required_and_double_sign(world):
    await _create(world, world.expert, n=2)
    token = token_of(await link_of("client1@example.test"))
    await collections.send_code(world.svc, token, "mail")
    code = await code_of("client1@example.test")
    with pytest.raises(ConsentRequiredError):
        await collections.sign_with_code(world.svc, token, code, consent=False, **WEB)
    await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    # The used code does not stay readable in the outbox table.
    assert (await last_mail("client1@example.test", "signer/code")).context["code"] == "------"
    with pytest.raises(AlreadySignedError):
        await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)


async def test_concurrent_signers_both_in_the_pdf(world):
    from pyhanko.pdf_utils.reader import PdfFileReader
    import io

    collection = await _create(world, world.expert, n=4)
    tokens, codes = [], []
    for i in range(1, 5):
        email = f"client{i}@example.test"
        token = token_of(await link_of(email))
        await collections.send_code(world.svc, token, "mail")
        tokens.append(token)
        codes.append(await code_of(email))
    await asyncio.gather(*(collections.sign_with_code(world.svc, t, c, consent=True, **WEB)
                           for t, c in zip(tokens, codes, strict=True)))
    fresh = await Collection.get(id=collection.id)
    assert fresh.state == "completed"
    doc = await (await Collection.get(id=collection.id)).documents.all().first()
    await doc.fetch_related("current")
    data = await world.svc.documents.read(doc.current.sha256)
    reader = PdfFileReader(io.BytesIO(data))
    names = {s.field_name for s in reader.embedded_regular_signatures}
    assert len(names) == 4


async def test_visibility_and_listing(world):
    collection = await _create(world, world.launcher, n=1)
    assert (await collections.get_collection(world.actor(world.preparer), collection.id)).id == \
        collection.id
    with pytest.raises(CollectionNotFoundError):
        await collections.get_collection(world.actor(world.outsider), collection.id)
    assert [c.id for c in await collections.list_collections(world.actor(world.expert))] == \
        [collection.id]
    assert await collections.list_collections(world.actor(world.outsider)) == []
    assert await collections.list_collections(world.actor(world.expert), state="completed") == []


async def test_every_collection_mail_renders_and_is_delivered(world):
    """All notifications of approval, signing, completion, decline, cancel, expiry, reminders
    go through the real delivery worker into the Maildir, in both languages."""
    from tests.dispatching import mail_dispatcher
    from workflows import clock, sweeps

    world.expert.language = "en"
    await world.expert.save()
    c1 = await _create(world, world.preparer, n=2)
    await collections.approve_collection(world.svc, world.actor(world.expert), c1.id)
    await _sign(world, "client1@example.test")
    await _sign(world, "client2@example.test")
    c2 = await _create(world, world.preparer, n=1)
    await collections.reject_collection(world.svc, world.actor(world.expert), c2.id, "Non")
    c3 = await _create(world, world.expert, n=2)
    await collections.remind_collection(world.svc, world.actor(world.expert), c3.id)
    token = token_of(await link_of("client1@example.test"))
    await collections.decline(world.svc, token, "Non merci", **WEB)
    c4 = await _create(world, world.expert, n=1)
    await collections.cancel_collection(world.svc, world.actor(world.expert), c4.id)
    await _create(world, world.expert, n=1, expiry_days=3)
    clock.fast_forward(days=1, hours=1)
    assert await sweeps.remind_due(world.svc) == 1  # last warning
    clock.fast_forward(days=2)
    assert await sweeps.expire_due(world.svc) == 1
    worker = mail_dispatcher(world.svc)
    while await worker.run_once():
        pass
    templates = set(await Notification.filter(channel="mail").values_list("template", flat=True))
    assert {"signer/invitation", "signer/code", "signer/completed", "signer/reminder",
            "signer/ended", "signer/cancelled", "initiator/approved", "initiator/signed",
            "initiator/completed", "initiator/rejected", "initiator/declined",
            "initiator/expired", "approver/approval_request"} <= templates
    failed = await Notification.filter(channel="mail").exclude(state="sent").values_list(
        "template", "last_error")
    assert failed == []
    outbox = list((world.svc.settings.home / "outbox" / "new").iterdir())
    assert len(outbox) == await Notification.filter(channel="mail").count()


async def test_mails_about_a_large_collection_list_some_signers_and_count_the_rest(world):
    """The initiator hears of each signature; with thirty signers each mail says how many
    signed and lists the first 25, not the whole collection."""
    from paraphe.templating import render

    await _create(world, world.expert, n=30)
    await _sign(world, "client7@example.test")
    mail = await last_mail("expert@dupre.test", "initiator/signed")
    text = render(f"mail/{mail.template}", "fr", **mail.context)
    assert "1 signataire(s) sur 30 ont signé." in text
    assert "Client 25 : en attente" in text and "Client 26" not in text
    assert "Client 7 : a signé" in text
    assert "… et 5 autre(s) signataire(s)" in text
    assert len(mail.context["signers"]) == 25
