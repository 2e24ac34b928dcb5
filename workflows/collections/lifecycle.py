"""A collection's lifecycle: create, approve or reject, launch, cancel, remind, expire, decline.

States (SPEC §2): draft → awaiting_approval → in_progress → completed | declined | expired |
cancelled. Every transition is a conditional update from the state it leaves, so two
requests racing for the same collection never both win; each is recorded in the evidence
log with the right it was allowed by. Launch reserves the credit of every signature (one
per signer and document); each signature captures its part and the end gives the rest back
(completion is in signing.py and finalisation.py, the signer's actions in signer_flow.py).
"""

from __future__ import annotations

from datetime import timedelta

from tortoise.exceptions import IntegrityError

from workflows import billing, clock, delegations, evidence, links, people, terms, text
from workflows.actors import Actor
from workflows.collections import notices, rights
from workflows.collections.lines import SignerSpec
from workflows.collections.states import (
    person_of,
    release,
    signature_cost,
    transition,
    visible,
)
from workflows.errors import (
    AlreadyDeclinedError,
    AlreadySignedError,
    CollectionInvalidError,
    CollectionStateError,
    DeclineReasonRequiredError,
    DocumentMissingError,
)
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Operation,
    Person,
    Signer,
)
from workflows.services import Services
from workflows.transactions import in_transaction


MAX_EXPIRY_DAYS = 365
MAX_REASON = 2000
MAX_TITLE = 255
MANUAL_REMINDER_GAP = timedelta(hours=1)


def _check_specs(signers: list[SignerSpec]) -> list[SignerSpec]:
    if not signers:
        raise CollectionInvalidError("a collection needs at least one signer")
    clean, seen = [], set()
    for index, spec in enumerate(signers):
        email = people.normalize_email(spec.email or "")
        if not people.EMAIL_RE.match(email):
            raise CollectionInvalidError(f"invalid e-mail address {spec.email!r}", email=spec.email)
        if email in seen:
            raise CollectionInvalidError(f"{email} is listed twice", email=email)
        seen.add(email)
        phone = None
        if spec.phone:
            phone = people.normalize_phone(spec.phone)
            if not people.PHONE_RE.match(phone):
                raise CollectionInvalidError(
                    f"invalid mobile number {spec.phone!r}: international format +33…",
                    phone=spec.phone)
        name = text.check_line(spec.name, f"signers[{index}].name", required=False) or email
        clean.append(SignerSpec(name, email, phone))
    return clean


async def _check_documents(svc: Services, documents: list[tuple[str, bytes]]) -> None:
    """Refuses, before anything is stored or reserved, a document the signers could not
    sign: the intake's checks plus a strict parse, the real page count and a dry run of
    the signing path, in a signing worker (workflows/pdf/intake.py `check_signable`)."""
    if not documents:
        raise DocumentMissingError("a collection needs at least one PDF")
    for filename, data in documents:
        await svc.engine.check_signable(data, filename, svc.settings.max_document_bytes)


# --- initiator side ------------------------------------------------------------------

async def create_collection(svc: Services, actor: Actor, *, cabinet: str | None,
                            documents: list[tuple[str, bytes]], signers: list[SignerSpec],
                            ordered: bool = False, title: str = "", message: str = "",
                            expiry_days: int = 15, idempotency_key: str | None = None
                            ) -> Collection:
    """Creates a collection; launched at once by a `launch` holder, else awaiting approval.

    An e-mail of a member of the cabinet makes an internal signer (signing with their
    personal certificate). Launch reserves the credit of every signature in the same
    transaction as the creation: no credit, nothing created. Raises
    CollectionInvalidError, TextInvalidError (a signer name, the title or the message),
    the Document*Error family, CabinetNotFoundError,
    CabinetAmbiguousError, NotAMemberError, TermsNotAcceptedError, DelegationMissingError
    (neither `launch` nor `prepare`), CreditInsufficientError. With an `idempotency_key`
    already used, the collection it created comes back and nothing is created again.
    """
    if idempotency_key and (done := await Operation.get_or_none(key=idempotency_key)):
        return await Collection.get(id=done.result["collection_id"])
    person = await person_of(actor)
    if person is None:
        raise CollectionInvalidError("a collection is started by a person of the cabinet")
    cab = await people.resolve_cabinet(person, cabinet)
    await terms.require_accepted(cab, svc.settings, person)
    right = await rights.require_start(person, cab)
    basis, launch = right.basis, right.launch
    specs = _check_specs(list(signers))
    # Filenames name files already sent: repaired (as mail's are), never refused.
    documents = [(text.clean_line(f, MAX_TITLE) or "document.pdf", d) for f, d in documents]
    title = text.check_line(title, "title", MAX_TITLE, required=False) or text.clean_line(
        documents[0][0] if documents else "", MAX_TITLE)
    message = text.check_text(message, "message")
    if isinstance(expiry_days, bool) or not isinstance(expiry_days, int) or not (
            1 <= expiry_days <= MAX_EXPIRY_DAYS):
        raise CollectionInvalidError(f"expiry_days must be from 1 to {MAX_EXPIRY_DAYS}")
    await _check_documents(svc, list(documents))
    stored = [await svc.documents.put(data) for _filename, data in documents]
    members = {p.email: p for p in await Person.filter(
        email__in=[s.email for s in specs], memberships__cabinet_id=cab.id)}
    now = clock.now()
    try:
        async with in_transaction():
            if launch:  # The reservation comes after the evidence of the creation.
                await billing.lock_balance(cab.id)
            collection = await Collection.create(
                cabinet=cab, created_by=person, state="draft", ordered=bool(ordered),
                title=title, message=message,
                channel=actor.channel if actor.channel in ("mail", "telegram", "web", "api")
                else "web", expiry_days=expiry_days, created_at=now)
            pairs = zip(stored, documents, strict=True)
            for position, (doc, (filename, _)) in enumerate(pairs, start=1):
                await CollectionDocument.create(collection=collection, position=position,
                                                filename=filename, original=doc)
            for position, spec in enumerate(specs, start=1):
                member = members.get(spec.email)
                signer = await Signer.create(
                    collection=collection, position=position, name=spec.name, email=spec.email,
                    phone=spec.phone or (member.phone if member else None),
                    language=member.language if member else svc.settings.default_language,
                    person=member)
                signer.token_hash = links.token_hash(
                    links.token_for(svc.settings, signer.id, collection.id))
                await signer.save(update_fields=["token_hash"])
            await evidence.record(
                "collection.created", actor, cabinet_id=cab.id, person_id=person.id,
                collection_id=collection.id,
                data={"basis": basis, "ordered": collection.ordered, "title": collection.title,
                      "expiry_days": expiry_days,
                      "documents": [{"filename": f, "sha256": d.sha256}
                                    for d, (f, _) in zip(stored, documents, strict=True)],
                      "signers": [{"name": s.name, "email": s.email, "internal": s.email in members}
                                  for s in specs]})
            if launch:
                await _launch(svc, actor, collection, basis=basis, sources=("draft",))
            else:
                await transition(collection, ("draft",), "awaiting_approval")
                cost = await signature_cost(collection)
                await evidence.record("collection.submitted", actor, cabinet_id=cab.id,
                                      person_id=person.id, collection_id=collection.id,
                                      data={"basis": basis, "cost": cost})
                await notices.ask_approval(collection, cost=cost)
            if idempotency_key:
                # Unique key: a concurrent retry with the same key fails here and rolls back.
                await Operation.create(key=idempotency_key, kind="collection", cabinet=cab,
                                       result={"collection_id": collection.id}, created_at=now)
    except IntegrityError:
        # A concurrent call with the same key committed first: its collection stands.
        if idempotency_key and (done := await Operation.get_or_none(key=idempotency_key)):
            return await Collection.get(id=done.result["collection_id"])
        raise
    return await Collection.get(id=collection.id)


async def _launch(svc: Services, actor: Actor, collection: Collection, *, basis: str,
                  sources: tuple[str, ...]) -> None:
    # Inside the caller's transaction: state, reservation, evidence and invitations together.
    now = clock.now()
    expires = now + timedelta(days=collection.expiry_days)
    await transition(collection, sources, "in_progress", launched_at=now, expires_at=expires)
    cost = await signature_cost(collection)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    reservation = None
    if cost:
        reservation = await billing.reserve(
            cabinet, cost, reference=f"collection:{collection.id}",
            low_credit_threshold=svc.settings.low_credit_threshold)
        await Collection.filter(id=collection.id).update(reservation_id=reservation.id)
    await evidence.record("collection.launched", actor, cabinet_id=cabinet.id,
                          person_id=actor.person_id, collection_id=collection.id,
                          data={"basis": basis, "cost": cost,
                                "expires_at": expires.isoformat()})
    pending = await Signer.filter(collection_id=collection.id).order_by("position")
    await notices.invite_all(svc, collection, pending[:1] if collection.ordered else pending,
                             Actor.system())


async def approve_collection(svc: Services, actor: Actor, collection_id) -> Collection:
    """Launches a collection awaiting approval (or a draft); needs `launch` in its cabinet.

    Raises CollectionNotFoundError, DelegationMissingError, CollectionStateError,
    TermsNotAcceptedError, CreditInsufficientError (and it stays awaiting approval).
    """
    person, collection = await visible(actor, collection_id)
    if collection.state not in ("draft", "awaiting_approval"):
        raise CollectionStateError(f"collection {collection.id} is {collection.state}",
                                   collection_id=collection.id, state=collection.state)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    await terms.require_accepted(cabinet, svc.settings, person)
    basis = "operator" if person is None else await delegations.require(person, cabinet, "launch")
    async with in_transaction():
        # The collection's row, then the balance (reserved below), then the evidence head:
        # the order of a cancel and of a seal (billing.lock_balance).
        await Collection.filter(id=collection.id).update(approved_by_id=actor.person_id)
        await billing.lock_balance(cabinet.id)
        await evidence.record("collection.approved", actor, cabinet_id=cabinet.id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis})
        await _launch(svc, actor, collection, basis=basis,
                      sources=("draft", "awaiting_approval"))
        if collection.created_by_id != actor.person_id:
            await notices.to_initiator(collection, "approved", key="approved",
                                       approver=person.name if person else "")
    return await Collection.get(id=collection.id)


async def reject_collection(svc: Services, actor: Actor, collection_id, reason: str) -> Collection:
    """Refuses a collection awaiting approval, with a reason; it ends cancelled.

    Raises CollectionNotFoundError, DelegationMissingError, DeclineReasonRequiredError,
    TextInvalidError, CollectionStateError.
    """
    person, collection = await visible(actor, collection_id)
    reason = text.check_text(reason, "reason", MAX_REASON)
    if not reason:
        raise DeclineReasonRequiredError("say why the collection is rejected")
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    basis = "operator" if person is None else await delegations.require(person, cabinet, "launch")
    async with in_transaction():
        await transition(collection, ("awaiting_approval",), "cancelled",
                          ended_at=clock.now(), rejection_reason=reason,
                          rejected_by_id=actor.person_id)
        await evidence.record("collection.rejected", actor, cabinet_id=cabinet.id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis, "reason": reason})
        await notices.to_initiator(collection, "rejected", key="rejected", reason=reason,
                                   approver=person.name if person else "")
    return await Collection.get(id=collection.id)


async def cancel_collection(svc: Services, actor: Actor, collection_id) -> Collection:
    """Cancels a collection that has not ended; the credit not used is given back.

    Allowed to its initiator and to `launch` holders of its cabinet. Raises
    CollectionNotFoundError, DelegationMissingError, CollectionStateError.
    """
    person, collection = await visible(actor, collection_id)
    basis = await rights.manager_basis(person, collection)
    async with in_transaction():
        await transition(collection, ("draft", "awaiting_approval", "in_progress"),
                          "cancelled", ended_at=clock.now())
        back = await release(collection)
        await evidence.record("collection.cancelled", actor, cabinet_id=collection.cabinet_id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis, "credit_released": back})
        await notices.to_signers(svc, collection, "cancelled", key="cancelled")
    return await Collection.get(id=collection.id)


async def remind_collection(svc: Services, actor: Actor, collection_id) -> int:
    """Reminds the signers asked to sign who have not yet; returns how many.

    A signer reminded less than an hour ago is skipped, so a double tap sends once.
    Raises CollectionNotFoundError, DelegationMissingError, CollectionStateError.
    """
    person, collection = await visible(actor, collection_id)
    basis = await rights.manager_basis(person, collection)
    if collection.state != "in_progress":
        raise CollectionStateError(f"collection {collection.id} is {collection.state}",
                                   collection_id=collection.id, state=collection.state)
    now = clock.now()
    context = await notices.collection_context(collection)
    count = 0
    pending = await Signer.filter(collection_id=collection.id, state="pending",
                                  notified_at__not_isnull=True).order_by("position")
    for signer in pending:
        if signer.last_reminded_at and signer.last_reminded_at > now - MANUAL_REMINDER_GAP:
            continue
        async with in_transaction():
            claimed = await Signer.filter(id=signer.id, reminders_sent=signer.reminders_sent,
                                          state="pending").update(
                reminders_sent=signer.reminders_sent + 1, last_reminded_at=now)
            if claimed != 1:
                continue
            await notices.remind(svc, collection, signer, stage="reminder",
                                 number=signer.reminders_sent + 1, context=context)
            count += 1
    await evidence.record("collection.reminded", actor, cabinet_id=collection.cabinet_id,
                          person_id=actor.person_id, collection_id=collection.id,
                          data={"basis": basis, "signers": count})
    return count


# --- endings shared with signing and sweeps -------------------------------------------

async def end_declined(svc: Services, actor: Actor, collection: Collection, signer: Signer,
                       reason: str) -> None:
    """Inside a transaction: the signer declines, so the collection ends declined."""
    now = clock.now()
    done = await Signer.filter(id=signer.id, state="pending").update(
        state="declined", declined_at=now, decline_reason=reason)
    if done != 1:
        fresh = await Signer.get(id=signer.id)
        raise (AlreadySignedError if fresh.state == "signed" else AlreadyDeclinedError)(
            f"signer {signer.position} is already {fresh.state}")
    await transition(collection, ("in_progress",), "declined", ended_at=now)
    back = await release(collection)
    await evidence.record("signer.declined", actor, cabinet_id=collection.cabinet_id,
                          person_id=signer.person_id, collection_id=collection.id,
                          data={"signer": signer.position, "name": signer.name,
                                "email": signer.email, "reason": reason,
                                "credit_released": back})
    await notices.to_initiator(collection, "declined", key="declined", signer=signer.name,
                               reason=reason)
    # The decliner's copy confirms their refusal and its reason (templates signer/ended).
    await notices.to_signers(svc, collection, "ended", key="declined", reason="declined",
                             decliner=signer.position, decline_reason=reason)


async def expire(svc: Services, collection: Collection) -> bool:
    """Ends a collection past its deadline; False when another process did it first."""
    async with in_transaction():
        done = await Collection.filter(id=collection.id, state="in_progress",
                                       expires_at__lte=clock.now()).update(
            state="expired", ended_at=clock.now())
        if done != 1:
            return False
        collection.state = "expired"
        back = await release(collection)
        await evidence.record("collection.expired", Actor.system(),
                              cabinet_id=collection.cabinet_id, collection_id=collection.id,
                              data={"credit_released": back})
        await notices.to_initiator(collection, "expired", key="expired")
        await notices.to_signers(svc, collection, "ended", key="expired", reason="expired")
    return True
