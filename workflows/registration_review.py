"""The operator's review of submitted registrations: approve (issues the personal
certificate) or refuse with a reason; the person is told on their channel."""

from __future__ import annotations

from dataclasses import dataclass

from workflows import clock, evidence, notifications, text
from workflows.actors import Actor
from workflows.errors import (
    RefusalReasonRequiredError,
    RegistrationNotFoundError,
    RegistrationStateError,
)
from workflows.identity_vault import IdentityVault
from workflows.models import IdentityDocument, Person, Registration
from workflows.registration import check_phone_free, identity_of
from workflows.services import Services
from workflows.transactions import in_transaction


MAX_REASON = 1000


@dataclass(frozen=True)
class Review:
    """What the operator looks at: the registration, its person, their identity data as the
    platform holds it now, and the identity documents still stored (metadata only)."""

    registration: Registration
    person: Person
    identity: dict
    documents: list[IdentityDocument]


async def _get(registration_id) -> Registration:
    try:
        reg = await Registration.get_or_none(id=int(registration_id))
    except (TypeError, ValueError):
        reg = None
    if reg is None:
        raise RegistrationNotFoundError(f"no registration {registration_id}")
    return reg


async def list_pending() -> list[Registration]:
    """Submitted registrations waiting for review, oldest first (person prefetched)."""
    return await Registration.filter(state="submitted").order_by("submitted_at", "id"
                                                                 ).prefetch_related("person")


async def show(registration_id) -> Review:
    """One registration for review. Raises RegistrationNotFoundError."""
    reg = await _get(registration_id)
    person = await Person.get(id=reg.person_id)
    docs = await IdentityDocument.filter(registration_id=reg.id, deleted_at=None).order_by("id")
    return Review(reg, person, await identity_of(person), list(docs))


async def read_document(svc: Services, document: IdentityDocument) -> bytes:
    """The clear bytes of a stored identity document, for the operator's eyes only.

    Raises FileNotFoundError once erased.
    """
    vault = IdentityVault(svc.settings)
    return await vault.load(document.storage_ref)


def _notify(person: Person, template: str, reg: Registration, **context):
    return notifications.to_person(
        person, f"registrant/{template}", {"registration_id": reg.id, **context},
        dedup_key=f"registration:{reg.id}:{template}")


async def approve(svc: Services, actor: Actor, registration_id) -> Registration:
    """Approves a submitted registration: issues the person's personal signing certificate,
    makes the checked mobile their number, and tells them.

    Raises RegistrationNotFoundError, RegistrationStateError, PhoneAlreadyBoundError,
    TrustServiceError.
    """
    reg = await _get(registration_id)
    if reg.state != "submitted":
        raise RegistrationStateError(f"registration {reg.id} is {reg.state}", state=reg.state)
    person = await Person.get(id=reg.person_id)
    await check_phone_free(reg.phone, person.id)
    cert = await svc.trust.issue_personal_certificate(person)
    now = clock.now()
    try:
        async with in_transaction():
            moved = await Registration.filter(id=reg.id, state="submitted").update(
                state="approved", reviewed_by_id=actor.person_id, reviewed_at=now,
                certificate_id=cert.id, updated_at=now)
            if moved != 1:
                raise RegistrationStateError(f"registration {reg.id} was reviewed meanwhile")
            await Person.filter(id=person.id).update(phone=reg.phone)
            await evidence.record("registration.approved", actor, person_id=person.id,
                                  data={"registration": reg.id, "certificate": cert.serial})
            await _notify(person, "approved", reg, serial=cert.serial,
                          not_after=cert.not_after.isoformat())
    except BaseException:
        await svc.trust.revoke(cert, "superseded")
        raise
    return await Registration.get(id=reg.id)


async def refuse(svc: Services, actor: Actor, registration_id, reason: str) -> Registration:
    """Refuses a submitted registration with a reason the person reads; they may start again.

    Raises RegistrationNotFoundError, RegistrationStateError, RefusalReasonRequiredError,
    TextInvalidError.
    """
    reason = " ".join(text.check_text(reason, "reason", MAX_REASON).split())
    if not reason:
        raise RefusalReasonRequiredError("say why the registration is refused")
    reg = await _get(registration_id)
    now = clock.now()
    async with in_transaction():
        moved = await Registration.filter(id=reg.id, state="submitted").update(
            state="refused", reviewed_by_id=actor.person_id, reviewed_at=now,
            refusal_reason=reason, updated_at=now)
        if moved != 1:
            fresh = await Registration.get(id=reg.id)
            raise RegistrationStateError(f"registration {reg.id} is {fresh.state}",
                                         state=fresh.state)
        person = await Person.get(id=reg.person_id)
        await evidence.record("registration.refused", actor, person_id=person.id,
                              data={"registration": reg.id, "reason": reason})
        await _notify(person, "refused", reg, reason=reason)
    return await Registration.get(id=reg.id)
