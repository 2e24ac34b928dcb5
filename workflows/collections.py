"""The collection state machine: create, approve or reject, launch, sign, decline, cancel, expire, complete.

States (SPEC §2): draft → awaiting_approval → in_progress → completed | declined | expired |
cancelled. Every transition is a conditional update from the state it leaves, so two
requests racing for the same collection never both win; each is recorded in the evidence
log with the right it was allowed by. Launch reserves the credit of every signature (one
per signer and document); each signature captures its part and the end gives the rest back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError

from workflows import billing, clock, delegations, evidence, links, otp, people, terms, text
from workflows import collection_notices as notices
from workflows.actors import Actor
from workflows.errors import (
    AlreadyDeclinedError,
    AlreadySignedError,
    CollectionInvalidError,
    CollectionNotFoundError,
    CollectionStateError,
    ConsentRequiredError,
    DeclineReasonRequiredError,
    DelegationMissingError,
    LinkExpiredError,
    NotASignerError,
    NotYourTurnError,
    OtpLockedError,
    SignerLinkInvalidError,
    SmsUnavailableError,
)
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Membership,
    Operation,
    Person,
    Signer,
    SignerCode,
)
from workflows.models.collections import ENDED, STATES
from workflows.transactions import in_transaction

MAX_EXPIRY_DAYS = 365
MAX_REASON = 2000
MAX_TITLE = 255
MANUAL_REMINDER_GAP = timedelta(hours=1)


@dataclass(frozen=True)
class SignerSpec:
    """One signer asked for: a name, an e-mail, and optionally a mobile (+33…)."""

    name: str
    email: str
    phone: str | None = None


# --- helpers ---------------------------------------------------------------------------

async def _person(actor: Actor) -> Person | None:
    return await Person.get(id=actor.person_id) if actor.person_id is not None else None


async def _load(collection_id) -> Collection:
    try:
        number = int(collection_id)
    except (TypeError, ValueError):
        raise CollectionNotFoundError(f"no collection {collection_id!r}") from None
    collection = await Collection.get_or_none(id=number)
    if collection is None:
        raise CollectionNotFoundError(f"no collection {number}", collection_id=number)
    return collection


async def _visible(actor: Actor, collection_id) -> tuple[Person | None, Collection]:
    # Another cabinet's collection is "not found", never "forbidden": its existence is private.
    collection = await _load(collection_id)
    person = await _person(actor)
    if person is not None and not await Membership.exists(person_id=person.id,
                                                          cabinet_id=collection.cabinet_id):
        raise CollectionNotFoundError(f"no collection {collection.id}",
                                      collection_id=collection.id)
    return person, collection


async def _transition(collection: Collection, sources: tuple[str, ...], target: str,
                      **fields) -> None:
    """Moves the collection from one of `sources` to `target`; raises CollectionStateError."""
    done = await Collection.filter(id=collection.id, state__in=list(sources)).update(
        state=target, **fields)
    if done != 1:
        fresh = await Collection.get(id=collection.id)
        raise CollectionStateError(
            f"collection {collection.id} is {fresh.state}: cannot go to {target}",
            collection_id=collection.id, state=fresh.state)
    collection.state = target
    for name, value in fields.items():
        setattr(collection, name, value)


async def _manager_basis(person: Person | None, collection: Collection) -> str:
    """The initiator, or whoever may launch in the cabinet, manages a collection."""
    if person is None:
        return "operator"
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    if person.id == collection.created_by_id:
        if not await Membership.exists(person_id=person.id, cabinet_id=cabinet.id):
            raise CollectionNotFoundError(f"no collection {collection.id}")
        return "initiator"
    return await delegations.require(person, cabinet, "launch")


async def signature_cost(collection: Collection) -> int:
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    signers = await Signer.filter(collection_id=collection.id).count()
    documents = await CollectionDocument.filter(collection_id=collection.id).count()
    return await billing.price(cabinet, "signature") * signers * documents


async def _release(collection: Collection) -> int:
    fresh = await Collection.get(id=collection.id)
    if fresh.reservation_id is None:
        return 0
    reservation = await fresh.reservation
    return await billing.release(reservation, reference=f"collection:{collection.id}")


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


async def _check_documents(svc, documents: list[tuple[str, bytes]]) -> None:
    """Refuses, before anything is stored or reserved, a document the signers could not
    sign: the intake's checks plus a strict parse, the real page count and a dry run of
    the signing path, in a signing worker (workflows/pdf/intake.py `check_signable`)."""
    if not documents:
        from workflows.errors import DocumentMissingError
        raise DocumentMissingError("a collection needs at least one PDF")
    for filename, data in documents:
        await svc.engine.check_signable(data, filename, svc.settings.max_document_bytes)


# --- initiator side ------------------------------------------------------------------

async def create_collection(svc, actor: Actor, *, cabinet: str | None,
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
    person = await _person(actor)
    if person is None:
        raise CollectionInvalidError("a collection is started by a person of the cabinet")
    cab = await people.resolve_cabinet(person, cabinet)
    await terms.require_accepted(cab, svc.settings, person)
    try:
        basis, launch = await delegations.require(person, cab, "launch"), True
    except DelegationMissingError:
        try:
            basis, launch = await delegations.require(person, cab, "prepare"), False
        except DelegationMissingError:
            raise DelegationMissingError(
                f"{person.email} may neither launch nor prepare collections for {cab.slug}",
                action="prepare", cabinet=cab.slug) from None
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
            collection = await Collection.create(
                cabinet=cab, created_by=person, state="draft", ordered=bool(ordered),
                title=title, message=message,
                channel=actor.channel if actor.channel in ("mail", "telegram", "web", "api")
                else "web", expiry_days=expiry_days, created_at=now)
            for position, (doc, (filename, _)) in enumerate(zip(stored, documents), start=1):
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
                                    for d, (f, _) in zip(stored, documents)],
                      "signers": [{"name": s.name, "email": s.email, "internal": s.email in members}
                                  for s in specs]})
            if launch:
                await _launch(svc, actor, collection, basis=basis, sources=("draft",))
            else:
                await _transition(collection, ("draft",), "awaiting_approval")
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


async def _launch(svc, actor: Actor, collection: Collection, *, basis: str,
                  sources: tuple[str, ...]) -> None:
    # Inside the caller's transaction: state, reservation, evidence and invitations together.
    now = clock.now()
    expires = now + timedelta(days=collection.expiry_days)
    await _transition(collection, sources, "in_progress", launched_at=now, expires_at=expires)
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


async def approve_collection(svc, actor: Actor, collection_id) -> Collection:
    """Launches a collection awaiting approval (or a draft); needs `launch` in its cabinet.

    Raises CollectionNotFoundError, DelegationMissingError, CollectionStateError,
    TermsNotAcceptedError, CreditInsufficientError (and it stays awaiting approval).
    """
    person, collection = await _visible(actor, collection_id)
    if collection.state not in ("draft", "awaiting_approval"):
        raise CollectionStateError(f"collection {collection.id} is {collection.state}",
                                   collection_id=collection.id, state=collection.state)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    await terms.require_accepted(cabinet, svc.settings, person)
    basis = "operator" if person is None else await delegations.require(person, cabinet, "launch")
    async with in_transaction():
        await evidence.record("collection.approved", actor, cabinet_id=cabinet.id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis})
        await Collection.filter(id=collection.id).update(approved_by_id=actor.person_id)
        await _launch(svc, actor, collection, basis=basis,
                      sources=("draft", "awaiting_approval"))
        if collection.created_by_id != actor.person_id:
            await notices.to_initiator(collection, "approved", key="approved",
                                       approver=person.name if person else "")
    return await Collection.get(id=collection.id)


async def reject_collection(svc, actor: Actor, collection_id, reason: str) -> Collection:
    """Refuses a collection awaiting approval, with a reason; it ends cancelled.

    Raises CollectionNotFoundError, DelegationMissingError, DeclineReasonRequiredError,
    TextInvalidError, CollectionStateError.
    """
    person, collection = await _visible(actor, collection_id)
    reason = text.check_text(reason, "reason", MAX_REASON)
    if not reason:
        raise DeclineReasonRequiredError("say why the collection is rejected")
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    basis = "operator" if person is None else await delegations.require(person, cabinet, "launch")
    async with in_transaction():
        await _transition(collection, ("awaiting_approval",), "cancelled",
                          ended_at=clock.now(), rejection_reason=reason,
                          rejected_by_id=actor.person_id)
        await evidence.record("collection.rejected", actor, cabinet_id=cabinet.id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis, "reason": reason})
        await notices.to_initiator(collection, "rejected", key="rejected", reason=reason,
                                   approver=person.name if person else "")
    return await Collection.get(id=collection.id)


async def cancel_collection(svc, actor: Actor, collection_id) -> Collection:
    """Cancels a collection that has not ended; the credit not used is given back.

    Allowed to its initiator and to `launch` holders of its cabinet. Raises
    CollectionNotFoundError, DelegationMissingError, CollectionStateError.
    """
    person, collection = await _visible(actor, collection_id)
    basis = await _manager_basis(person, collection)
    async with in_transaction():
        await _transition(collection, ("draft", "awaiting_approval", "in_progress"),
                          "cancelled", ended_at=clock.now())
        back = await _release(collection)
        await evidence.record("collection.cancelled", actor, cabinet_id=collection.cabinet_id,
                              person_id=actor.person_id, collection_id=collection.id,
                              data={"basis": basis, "credit_released": back})
        await notices.to_signers(svc, collection, "cancelled", key="cancelled")
    return await Collection.get(id=collection.id)


async def remind_collection(svc, actor: Actor, collection_id) -> int:
    """Reminds the signers asked to sign who have not yet; returns how many.

    A signer reminded less than an hour ago is skipped, so a double tap sends once.
    Raises CollectionNotFoundError, DelegationMissingError, CollectionStateError.
    """
    person, collection = await _visible(actor, collection_id)
    basis = await _manager_basis(person, collection)
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


async def get_collection(actor: Actor, collection_id) -> Collection:
    """A collection the actor may see (a member of its cabinet); raises CollectionNotFoundError."""
    _, collection = await _visible(actor, collection_id)
    return collection


async def list_collections(actor: Actor, *, state: str | None = None,
                           cabinet: str | None = None) -> list[Collection]:
    """The collections of the actor's cabinets (one cabinet when named), oldest first."""
    if state is not None and state not in STATES:
        raise CollectionInvalidError(f"unknown state {state!r}: one of {', '.join(STATES)}")
    query = Collection.all()
    person = await _person(actor)
    if person is not None:
        cabinet_ids = await Membership.filter(person_id=person.id).values_list("cabinet_id",
                                                                               flat=True)
        query = query.filter(cabinet_id__in=list(cabinet_ids) or [0])
    if cabinet:
        query = query.filter(cabinet__slug=cabinet)
    if state:
        query = query.filter(state=state)
    return list(await query.order_by("id"))


async def pending_approvals(person: Person) -> list[Collection]:
    """Collections awaiting approval that this person may approve."""
    found = []
    for c in await Collection.filter(state="awaiting_approval").order_by("id"):
        if c.created_by_id == person.id:
            continue
        if await delegations.may(person, await Cabinet.get(id=c.cabinet_id), "launch"):
            found.append(c)
    return found


async def signers_of(collection: Collection) -> list[Signer]:
    return list(await Signer.filter(collection_id=collection.id).order_by("position"))


# --- endings shared with signing and sweeps -------------------------------------------

async def end_declined(svc, actor: Actor, collection: Collection, signer: Signer,
                       reason: str) -> None:
    """Inside a transaction: the signer declines, so the collection ends declined."""
    now = clock.now()
    done = await Signer.filter(id=signer.id, state="pending").update(
        state="declined", declined_at=now, decline_reason=reason)
    if done != 1:
        fresh = await Signer.get(id=signer.id)
        raise (AlreadySignedError if fresh.state == "signed" else AlreadyDeclinedError)(
            f"signer {signer.position} is already {fresh.state}")
    await _transition(collection, ("in_progress",), "declined", ended_at=now)
    back = await _release(collection)
    await evidence.record("signer.declined", actor, cabinet_id=collection.cabinet_id,
                          person_id=signer.person_id, collection_id=collection.id,
                          data={"signer": signer.position, "name": signer.name,
                                "email": signer.email, "reason": reason,
                                "credit_released": back})
    await notices.to_initiator(collection, "declined", key="declined", signer=signer.name,
                               reason=reason)
    await notices.to_signers(svc, collection, "ended", key="declined", reason="declined")


async def expire(svc, collection: Collection) -> bool:
    """Ends a collection past its deadline; False when another process did it first."""
    async with in_transaction():
        done = await Collection.filter(id=collection.id, state="in_progress",
                                       expires_at__lte=clock.now()).update(
            state="expired", ended_at=clock.now())
        if done != 1:
            return False
        collection.state = "expired"
        back = await _release(collection)
        await evidence.record("collection.expired", Actor.system(),
                              cabinet_id=collection.cabinet_id, collection_id=collection.id,
                              data={"credit_released": back})
        await notices.to_initiator(collection, "expired", key="expired")
        await notices.to_signers(svc, collection, "ended", key="expired", reason="expired")
    return True


# --- signer side (web link) ----------------------------------------------------------

@dataclass
class SignerView:
    """What the signer page shows, and whether the signer may act now."""

    collection: Collection
    signer: Signer
    cabinet: Cabinet
    initiator: Person
    documents: list[CollectionDocument]
    signer_count: int
    signed_count: int
    turn: bool  # True when nobody before this signer (in a set order) is still to sign

    @property
    def ended(self) -> bool:
        return self.collection.state in ENDED

    @property
    def can_sign(self) -> bool:
        return (self.collection.state == "in_progress" and self.signer.state == "pending"
                and self.turn)


async def _signer_by_token(token: str) -> Signer:
    if not token or len(token) > 128:
        raise SignerLinkInvalidError("this signature link is not valid")
    signer = await Signer.get_or_none(token_hash=links.token_hash(token))
    if signer is None:
        raise SignerLinkInvalidError("this signature link is not valid")
    return signer


async def _is_turn(collection: Collection, signer: Signer) -> bool:
    if not collection.ordered:
        return True
    return not await Signer.filter(collection_id=collection.id, position__lt=signer.position,
                                   state__not="signed").exists()


async def signer_view(token: str) -> SignerView:
    """The collection as its signer sees it; raises SignerLinkInvalidError for an unknown link
    (or one of a collection not launched yet)."""
    if not token or len(token) > 128:
        raise SignerLinkInvalidError("this signature link is not valid")
    # Few queries: the page is what fifty signers at once load.
    signer = await (Signer.filter(token_hash=links.token_hash(token))
                    .select_related("collection__cabinet", "collection__created_by").first())
    if signer is None:
        raise SignerLinkInvalidError("this signature link is not valid")
    collection = signer.collection
    if collection.state in ("draft", "awaiting_approval") or (
            collection.state == "cancelled" and collection.launched_at is None):
        raise SignerLinkInvalidError("this signature link is not valid")
    # Counts, not rows: a collection may have a thousand signers.
    counts = await notices.signer_counts(collection.id, waiting_before=signer.position)
    return SignerView(
        collection=collection, signer=signer, cabinet=collection.cabinet,
        initiator=collection.created_by,
        documents=list(await CollectionDocument.filter(collection_id=collection.id)
                       .select_related("original", "current").order_by("position")),
        signer_count=counts["total"], signed_count=counts["signed"],
        turn=not collection.ordered or not counts["waiting"])


async def note_opened(view: SignerView, *, ip: str | None, user_agent: str | None) -> None:
    """Records the signer's first opening of their page; later openings cost nothing (the
    view already holds the signer's row)."""
    if view.signer.opened_at is not None or view.collection.state != "in_progress":
        return
    now = clock.now()
    async with in_transaction():
        if await Signer.filter(id=view.signer.id, opened_at=None).update(opened_at=now) != 1:
            return
        await evidence.record(
            "signer.opened", signer_actor(view.signer, ip=ip, user_agent=user_agent),
            cabinet_id=view.collection.cabinet_id, person_id=view.signer.person_id,
            collection_id=view.collection.id,
            data={"signer": view.signer.position, "name": view.signer.name,
                  "email": view.signer.email})
    view.signer.opened_at = now


async def _checked_code(collection: Collection, signer: Signer, code: str, actor: Actor):
    """The signer's live code row when `code` is right; each wrong try counted (at most
    MAX_ATTEMPTS per code sent, none once the code is dead) is recorded in the evidence log."""
    async def wrong(exc: Exception) -> None:
        await evidence.record(
            "signer.code_wrong", actor, cabinet_id=collection.cabinet_id,
            person_id=signer.person_id, collection_id=collection.id,
            data={"signer": signer.position, "name": signer.name,
                  "attempts_left": getattr(exc, "details", {}).get("attempts_left", 0),
                  "locked": isinstance(exc, OtpLockedError)})

    return await otp.check(signer, code, bound_to=await code_binding(collection),
                           on_wrong=wrong)


def consent_text(language: str, document_count: int) -> str:
    """The consent sentence the signer page shows (templates/web/signer/consent)."""
    from paraphe.templating import render

    return " ".join(render("web/signer/consent", language,
                           document_count=document_count).split())


async def _actionable(collection: Collection, signer: Signer) -> None:
    """Raises what stops this signer from acting now."""
    if collection.state in ("expired", "cancelled", "declined", "completed"):
        if signer.state == "signed":
            raise AlreadySignedError("you have already signed", state=collection.state)
        raise LinkExpiredError(f"the collection is {collection.state}", state=collection.state)
    if collection.state != "in_progress":
        raise SignerLinkInvalidError("this signature link is not valid")
    if collection.expires_at is not None and collection.expires_at <= clock.now():
        raise LinkExpiredError("the collection has expired", state="expired")
    if signer.state == "signed":
        raise AlreadySignedError("you have already signed")
    if signer.state == "declined":
        raise AlreadyDeclinedError("you have declined to sign")
    if not await _is_turn(collection, signer):
        raise NotYourTurnError("the signers before you have not all signed yet")


_BINDINGS: dict[int, str] = {}


async def code_binding(collection: Collection) -> str:
    """What a signer's code is bound to: the hashes of the original documents.

    Originals never change once a collection exists, so the value is kept per process.
    """
    found = _BINDINGS.get(collection.id)
    if found is None:
        sha256s = await (CollectionDocument.filter(collection_id=collection.id)
                         .order_by("position").values_list("original__sha256", flat=True))
        found = _BINDINGS[collection.id] = otp.documents_hash(list(sha256s))
        if len(_BINDINGS) > 10_000:
            _BINDINGS.pop(next(iter(_BINDINGS)))
    return found


async def _send_code(svc, collection: Collection, signer: Signer, channel: str,
                     actor: Actor) -> str:
    if channel not in ("mail", "sms"):
        raise CollectionInvalidError("a code is sent by mail or sms")
    if channel == "sms" and not signer.phone:
        raise SmsUnavailableError("no mobile number is known for this signer")
    bound_to = await code_binding(collection)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    if signer.person_id is not None:
        from workflows import personal_certificates as certificates

        person = await Person.get(id=signer.person_id)
        if await certificates.signs_in_own_name(person, cabinet):
            # Refused before any code is sent: without registration the signature cannot
            # happen (raises PersonalCertificateMissingError / ...RevokedError).
            await certificates.require_signing_certificate(svc, person)
    # One transaction (one commit) for the code, its mail and its evidence: fifty signers
    # asking at once queue on the database's commits, not on four each.
    async with in_transaction():
        code = await otp.issue(signer, channel=channel, bound_to=bound_to)
        await scrub_code_mails(signer)  # The codes sent before are dead now.
        context = {"code": code, "signer_name": signer.name, "collection_id": collection.id,
                   "title": collection.title, "cabinet_name": cabinet.name,
                   "minutes": int(otp.CODE_LIFETIME.total_seconds() // 60)}
        if channel == "mail":
            from workflows import notifications

            mail = await notifications.enqueue(
                channel="mail", template="signer/code", recipient=signer.email,
                language=signer.language, context=context, person_id=signer.person_id)
            await SignerCode.filter(signer_id=signer.id, state="active").update(
                notification_id=mail.id)
        await evidence.record("signer.code_sent", actor, cabinet_id=collection.cabinet_id,
                              person_id=signer.person_id, collection_id=collection.id,
                              data={"signer": signer.position, "channel": channel})
    if channel == "sms":
        # After the commit: a text message cannot be taken back if the transaction failed.
        from paraphe.templating import render
        from workflows import sms

        await sms.provider_for(svc.settings).send(
            signer.phone, render("sms/signer/code", signer.language, **context).strip())
    return channel


async def scrub_code_mails(signer: Signer) -> None:
    """Blanks the codes of this signer's code mails (dead codes need not stay readable in
    the outbox table; only their salted hash is kept, in SignerCode)."""
    from workflows.models import Notification

    ids = await SignerCode.filter(signer_id=signer.id, notification_id__not_isnull=True,
                                  ).values_list("notification_id", flat=True)
    for n in await Notification.filter(id__in=list(ids) or [0]):
        if n.context.get("code") != "------":
            await Notification.filter(id=n.id).update(context={**n.context, "code": "------"})


def signer_actor(signer: Signer, *, channel: str = "web", ip: str | None = None,
                 user_agent: str | None = None) -> Actor:
    origin = {"signer": signer.position, "email": signer.email}
    if ip:
        origin["ip"] = ip
    if user_agent:
        origin["user_agent"] = user_agent[:512]
    return Actor(person_id=signer.person_id, channel=channel, origin=origin)


async def send_code(svc, token: str, channel: str = "mail", *, ip: str | None = None,
                    user_agent: str | None = None) -> str:
    """Sends the signer a new 6-digit code by mail or SMS; returns the channel used.

    Raises SignerLinkInvalidError, LinkExpiredError, AlreadySignedError,
    AlreadyDeclinedError, NotYourTurnError, TermsNotAcceptedError, SmsUnavailableError,
    OtpRateLimitedError, and PersonalCertificateMissingError / PersonalCertificateRevokedError
    for a member who signs in their own name without an approved registration.
    """
    signer = await _signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await _actionable(collection, signer)
    # No code for a signature that would be refused.
    await terms.require_signable(collection, svc.settings)
    return await _send_code(svc, collection, signer, channel,
                            signer_actor(signer, ip=ip, user_agent=user_agent))


async def sign_with_code(svc, token: str, code: str, *, consent: bool, ip: str | None,
                         user_agent: str | None, language: str | None = None) -> Signer:
    """Signs every document of the collection for this signer, after their code.

    Raises SignerLinkInvalidError, ConsentRequiredError, LinkExpiredError,
    AlreadySignedError, AlreadyDeclinedError, NotYourTurnError, TermsNotAcceptedError,
    OtpInvalidError, OtpExpiredError, OtpLockedError, and TrustServiceError when signing
    fails.
    """
    signer = await _signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await _actionable(collection, signer)
    if not consent:
        raise ConsentRequiredError("tick the box to consent to sign electronically")
    actor = signer_actor(signer, ip=ip, user_agent=user_agent)
    code_row = await _checked_code(collection, signer, code, actor)
    from workflows import signing

    # The words the signer agreed to, in the language their page was shown in.
    count = await CollectionDocument.filter(collection_id=collection.id).count()
    words = consent_text(language if language in ("fr", "en") else signer.language, count)
    return await signing.sign(svc, collection, signer, code_row, actor, consent=words)


async def decline(svc, token: str, reason: str, *, ip: str | None, user_agent: str | None
                  ) -> Signer:
    """The signer refuses to sign, with a reason; the collection ends declined.

    Raises SignerLinkInvalidError, DeclineReasonRequiredError, TextInvalidError,
    LinkExpiredError, AlreadySignedError, AlreadyDeclinedError, NotYourTurnError.
    """
    signer = await _signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await _actionable(collection, signer)
    reason = text.check_text(reason, "reason", MAX_REASON)
    if not reason:
        raise DeclineReasonRequiredError("say why you decline to sign")
    async with in_transaction():
        await end_declined(svc, signer_actor(signer, ip=ip, user_agent=user_agent), collection,
                           signer, reason)
    return await Signer.get(id=signer.id)


# --- internal signers (Telegram /sign) ------------------------------------------------

async def _internal_signer(actor: Actor, collection_id) -> tuple[Collection, Signer]:
    person, collection = await _visible(actor, collection_id)
    if person is None:
        raise NotASignerError("only a person signs")
    signer = await Signer.get_or_none(collection_id=collection.id, person_id=person.id)
    if signer is None:
        raise NotASignerError(f"you are not a signer of collection {collection.id}")
    await _actionable(collection, signer)
    return collection, signer


async def request_signature_code(svc, actor: Actor, collection_id) -> str:
    """Sends an internal signer their code out of band (SMS when a mobile is known, else
    mail); returns the channel. Raises CollectionNotFoundError, NotASignerError,
    PersonalCertificateMissingError / PersonalCertificateRevokedError (an expert or `sign`
    holder who is not registered) and what `send_code` raises."""
    collection, signer = await _internal_signer(actor, collection_id)
    person = await Person.get(id=signer.person_id)
    if person.phone and not signer.phone:  # The mobile checked at registration, since.
        await Signer.filter(id=signer.id).update(phone=person.phone)
        signer.phone = person.phone
    channel = "sms" if signer.phone else "mail"
    await terms.require_signable(collection, svc.settings, await _person(actor))
    return await _send_code(svc, collection, signer, channel, actor)


async def sign_internal(svc, actor: Actor, collection_id, code: str) -> Signer:
    """An internal signer signs with their personal certificate after their code.

    Raises CollectionNotFoundError, NotASignerError and what `sign_with_code` raises.
    """
    collection, signer = await _internal_signer(actor, collection_id)
    code_row = await _checked_code(collection, signer, code, actor)
    from workflows import signing

    return await signing.sign(svc, collection, signer, code_row, actor)
