"""The notifications a collection records: invitations, reminders, approvals, news for the
initiator."""

from __future__ import annotations

from tortoise.expressions import Q
from tortoise.functions import Count

from workflows import clock, evidence, links, notifications
from workflows.actors import Actor
from workflows.models import Collection, CollectionDocument, Membership, Person, Signer
from workflows.services import Services


# A mail lists this many signers at most and counts the others: the initiator of a
# collection of a thousand is told of each signature, and each of those mails (and its
# outbox row) would otherwise carry the whole list.
LISTED_SIGNERS = 25


async def signer_counts(collection_id: int, *, waiting_before: int | None = None) -> dict:
    """How many signers the collection has ("total") and how many signed ("signed"), in
    one query; with `waiting_before`, also how many before that position have not signed
    ("waiting")."""
    counts = {"total": Count("id"), "signed": Count("id", _filter=Q(state="signed"))}
    if waiting_before is not None:
        counts["waiting"] = Count("id", _filter=Q(position__lt=waiting_before)
                                  & ~Q(state="signed"))
    found = await (Signer.filter(collection_id=collection_id).annotate(**counts)
                   .first().values(*counts))
    return {name: found[name] or 0 for name in counts}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


async def collection_context(collection: Collection) -> dict:
    """What every template about a collection may show (JSON-safe)."""
    cabinet = await collection.cabinet
    initiator = await collection.created_by
    docs = await (CollectionDocument.filter(collection_id=collection.id)
                  .prefetch_related("original").order_by("position"))
    signers = await Signer.filter(collection_id=collection.id).order_by("position").limit(
        LISTED_SIGNERS)
    counts = await signer_counts(collection.id)
    return {
        "collection_id": collection.id, "title": collection.title,
        "message": collection.message, "cabinet": cabinet.slug, "cabinet_name": cabinet.name,
        "initiator": initiator.name, "initiator_email": initiator.email,
        "ordered": collection.ordered, "state": collection.state,
        "expires_at": _iso(collection.expires_at),
        "documents": [{"position": d.position, "filename": d.filename,
                       "sha256": d.original.sha256} for d in docs],
        "signers": [{"name": s.name, "email": s.email, "state": s.state,
                     "delivery_failed": s.delivery_failed_at is not None} for s in signers],
        "signer_count": counts["total"], "signed_count": counts["signed"],
        "more_signers": counts["total"] - len(signers),
    }


async def invite(svc: Services, collection: Collection, signer: Signer, *,
                 context: dict | None = None
                 ) -> bool:
    """Sends the signer their link (once: the dedup key names the signer); True when the
    signer was not asked before."""
    ctx = dict(context or await collection_context(collection))
    ctx.update(signer_name=signer.name,
               link=links.link_for(svc.settings, signer.id, collection.id),
               internal=signer.person_id is not None)
    first = await Signer.filter(id=signer.id, notified_at=None).update(
        notified_at=clock.now()) == 1
    await notifications.to_signer(
        signer, "signer/invitation", ctx,
        dedup_key=f"collection:{collection.id}:signer:{signer.id}:invitation")
    return first


async def invite_all(svc: Services, collection: Collection, signers: list[Signer], actor: Actor, *,
                     context: dict | None = None) -> None:
    """Invites each signer, and records the invitations sent in one evidence event: a
    collection of a thousand signers adds one link to the chain, not a thousand."""
    context = context or await collection_context(collection)
    invited = [s for s in signers if await invite(svc, collection, s, context=context)]
    if invited:
        await evidence.record(
            "signer.invited", actor, cabinet_id=collection.cabinet_id,
            collection_id=collection.id,
            data={"channel": "mail", "signers": [
                {"signer": s.position, "name": s.name, "email": s.email} for s in invited]})


async def remind(svc: Services, collection: Collection, signer: Signer, *, stage: str, number: int,
                 context: dict | None = None) -> None:
    """A reminder (`stage` "reminder" or "last_warning"), once per signer and number."""
    ctx = dict(context or await collection_context(collection))
    ctx.update(signer_name=signer.name, last_warning=stage == "last_warning",
               link=links.link_for(svc.settings, signer.id, collection.id))
    await evidence.record("signer.reminded", Actor.system(), cabinet_id=collection.cabinet_id,
                          person_id=signer.person_id, collection_id=collection.id,
                          data={"signer": signer.position, "name": signer.name,
                                "email": signer.email, "stage": stage, "number": number})
    await notifications.to_signer(
        signer, "signer/reminder", ctx,
        dedup_key=f"collection:{collection.id}:signer:{signer.id}:{stage}:{number}")


async def to_initiator(collection: Collection, template: str, *, key: str,
                       attachments: list[dict] = (), **extra) -> None:
    """News for the person who started the collection (templates …/initiator/…), on their
    channel."""
    initiator = await Person.get(id=collection.created_by_id)
    ctx = {**await collection_context(collection), **extra}
    await notifications.to_person(
        initiator, f"initiator/{template}", ctx, attachments=list(attachments),
        dedup_key=f"collection:{collection.id}:initiator:{key}")


async def to_signers(svc: Services, collection: Collection, template: str, *, key: str,
                     only_notified: bool = True, attachments: list[dict] = (), **extra) -> int:
    """The same news for every signer (who was told of the collection); returns how many."""
    ctx = {**await collection_context(collection), **extra}
    query = Signer.filter(collection_id=collection.id)
    if only_notified:
        query = query.filter(notified_at__not_isnull=True)
    count = 0
    for signer in await query.order_by("position"):
        await notifications.to_signer(
            signer, f"signer/{template}",
            {**ctx, "signer_name": signer.name, "position": signer.position,
             "link": links.link_for(svc.settings, signer.id, collection.id)},
            attachments=list(attachments),
            dedup_key=f"collection:{collection.id}:signer:{signer.id}:{key}")
        count += 1
    return count


async def approvers_of(collection: Collection) -> list[Person]:
    """Who may approve: the cabinet's experts and its `launch` holders, not the preparer."""
    members = await (Membership.filter(cabinet_id=collection.cabinet_id)
                     .prefetch_related("person", "delegations"))
    found = []
    for m in members:
        if m.person_id == collection.created_by_id:
            continue
        if m.role == "expert" or any(d.action == "launch" for d in m.delegations):
            found.append(m.person)
    return sorted(found, key=lambda p: p.id)


async def ask_approval(collection: Collection, *, cost: int) -> int:
    """Asks every approver, each on their channel; returns how many."""
    ctx = {**await collection_context(collection), "cost": cost,
           "preparer": (await collection.created_by).name}
    approvers = await approvers_of(collection)
    for person in approvers:
        await notifications.to_person(
            person, "approver/approval_request", ctx,
            dedup_key=f"collection:{collection.id}:approval:{person.id}")
    return len(approvers)


async def expiry_warning(collection: Collection) -> int:
    """Warns the initiator and the cabinet's experts that the deadline is near; returns how many.

    Each gets it on their channel (chat when linked, else mail), once: the dedup key
    names the collection and the person.
    """
    ctx = await collection_context(collection)
    pending = Signer.filter(collection_id=collection.id, state="pending")
    ctx["pending"] = await pending.order_by("position").limit(LISTED_SIGNERS).values_list(
        "name", flat=True)
    ctx["more_pending"] = await pending.count() - len(ctx["pending"])
    initiator = await Person.get(id=collection.created_by_id)
    key = f"collection:{collection.id}:expiry_warning"
    await notifications.to_person(initiator, "initiator/expiring", ctx,
                                  dedup_key=f"{key}:{initiator.id}")
    experts = await notifications.to_experts(collection.cabinet_id, "expert/collection_expiring",
                                             ctx, dedup_key=key, exclude=[initiator.id])
    return 1 + len(experts)
