"""Registration: the identity check a person goes through before their personal certificate.

Only experts and holders of the `sign` delegation sign in their own name and so register;
`prepare`, `seal` and `launch` holders never need to. Every function below is the one
core call for every channel (bot, web page, CLI); each takes the `Actor` who acts (its
`person_id` is the person registering), saves its step at once (a person can stop and
come back), writes an evidence event, and raises a `workflows.errors.ParapheError`.

The person's steps (this module), in the order `Progress.step` names them:

==================  ====================================================================
step                call
==================  ====================================================================
(start)             ``start_or_resume(svc, actor) -> Progress``
``name``            ``give_full_name(svc, actor, "Marie Curie")`` — only when the name held is
                    one word: a personal certificate names a given name and a surname
``siren``           ``give_cabinet_siren(svc, actor, "552100554")`` — only for an expert of a
                    cabinet without SIREN (its seal names it), one cabinet at a time
``identity``        ``confirm_identity(svc, actor)`` — name, e-mail, cabinets as held
``mobile``          ``set_mobile(svc, actor, phone)`` — sends a 6-digit code by SMS
``mobile_code``     ``verify_mobile(svc, actor, code)``
``document_type``   ``choose_document_type(svc, actor, "id_card"|"passport"|"driving_licence")``
``front``/``back``  ``add_document(svc, actor, side, filename, data)`` — JPEG, PNG or PDF by
                    content, colour, 20 KB to 10 MB; a passport needs only its front
``agreement``       ``agreement_text(templates, language)`` to show, ``sign_agreement(svc, actor)``
``policies``        ``policy_texts(templates, settings, language)`` to show,
                    ``accept_policies(svc, actor)`` (CGU and data-protection policy together; an
                    expert thereby accepts the CGU in force for each of their cabinets)
``submit``          ``submit(svc, actor)`` — to the operator's review queue
``review``          waiting for the operator
``done``            approved: a valid personal certificate
``refused``         refused (``Progress.registration.refusal_reason``); ``start_or_resume``
                    starts a new registration
==================  ====================================================================

``progress(svc, actor) -> Progress`` tells where a person stands without changing anything;
``waiting_for(person_id)`` which typed answer or file a chat or form expects now (the
conversation state lives in the Registration row, not in a transport's memory).
The operator's review is in `workflows.registration_review` (``list_pending``, ``show``,
``read_document``, ``approve``, ``refuse``); the certificate's self-service and the
signing gate in `workflows.personal_certificates` (``certificate_details``,
``request_revocation``, ``confirm_revocation``, ``require_signing_certificate``). Identity
documents are encrypted at rest (`workflows.identity_vault`) and erased after
``settings.identity_retention_days`` by ``sweeps.erase_identity_documents``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from workflows import clock, evidence, notifications, otp, people, person_codes, terms, text
from workflows.actors import Actor
from workflows.errors import (
    IdentityDocumentMissingError,
    IdentityDocumentSideInvalidError,
    IdentityDocumentTypeInvalidError,
    PersonNameIncompleteError,
    PersonNotFoundError,
    PhoneAlreadyBoundError,
    PhoneInvalidError,
    PhoneNotVerifiedError,
    RegistrationNotNeededError,
    RegistrationStateError,
    RegistrationStepMissingError,
)
from workflows.identity_files import check as check_file
from workflows.identity_vault import IdentityVault
from workflows.models import (
    Cabinet,
    Certificate,
    Delegation,
    IdentityDocument,
    Membership,
    Person,
    Registration,
)
from workflows.models.registration import DOCUMENT_TYPES, SIDES
from workflows.ports import CoreSettings, Templates
from workflows.services import Services
from workflows.transactions import in_transaction


MOBILE_CODE = "mobile"
# Steps answered by a message or a file rather than a button, and how long after the
# person's last step the next message is still taken as the answer.
INPUT_STEPS = ("name", "siren", "mobile", "mobile_code", "front", "back")
INPUT_WINDOW = timedelta(hours=2)


@dataclass(frozen=True)
class Progress:
    """Where a person stands: their registration and the next step to do (see the table)."""

    registration: Registration
    step: str
    #: Sides of the identity document uploaded and still stored.
    sides: tuple[str, ...]
    #: Sides the chosen document type needs (front only for a passport).
    needed_sides: tuple[str, ...]


def needed_sides(document_type: str | None) -> tuple[str, ...]:
    return ("front",) if document_type == "passport" else SIDES


# --- helpers ------------------------------------------------------------------------------

async def _person(actor: Actor) -> Person:
    if actor.person_id is None:
        raise PersonNotFoundError("only a person registers")
    return await Person.get(id=actor.person_id)


async def latest(person_id: int) -> Registration | None:
    """The person's most recent registration, whatever its state."""
    return await Registration.filter(person_id=person_id).order_by("-id").first()


async def _open(actor: Actor) -> tuple[Person, Registration]:
    """The person and their registration in progress; raises RegistrationStateError."""
    person = await _person(actor)
    reg = await latest(person.id)
    if reg is None or reg.state != "in_progress":
        state = reg.state if reg else "none"
        raise RegistrationStateError(
            "no registration is in progress: start one with /register" if state != "submitted"
            else "the registration was submitted and waits for its review", state=state)
    return person, reg


async def _save(reg: Registration, **values) -> None:
    values["updated_at"] = clock.now()
    await Registration.filter(id=reg.id).update(**values)
    for key, value in values.items():
        setattr(reg, key, value)


async def _record(kind: str, actor: Actor, reg: Registration, **data) -> None:
    await evidence.record(kind, actor, person_id=reg.person_id,
                          data={"registration": reg.id, **data})


async def needs_registration(person: Person) -> bool:
    """True for an expert of a cabinet or a holder of the `sign` delegation."""
    if await Membership.exists(person_id=person.id, role="expert"):
        return True
    return await Delegation.exists(membership__person_id=person.id, action="sign")


async def live_sides(reg: Registration) -> tuple[str, ...]:
    found = await IdentityDocument.filter(registration_id=reg.id, deleted_at=None).values_list(
        "side", flat=True)
    return tuple(side for side in SIDES if side in found)


async def _step(reg: Registration, sides: tuple[str, ...]) -> str:
    if reg.state == "submitted":
        return "review"
    if reg.state == "refused":
        return "refused"
    if reg.state == "approved":
        return "done"
    if reg.identity_confirmed_at is None:
        return await _identity_gap(reg.person_id) or "identity"
    if not reg.phone:
        return "mobile"
    if reg.phone_verified_at is None:
        return "mobile_code"
    if not reg.document_type:
        return "document_type"
    for side in needed_sides(reg.document_type):
        if side not in sides:
            return side
    if reg.agreement_signed_at is None:
        return "agreement"
    if reg.terms_accepted_at is None or reg.privacy_accepted_at is None:
        return "policies"
    return "submit"


async def _identity_gap(person_id: int) -> str | None:
    """"name" when the name held is one word, "siren" when the person is an expert of a
    cabinet without SIREN: what the person answers before confirming their identity."""
    person = await Person.get(id=person_id)
    if len(person.name.split()) < 2:
        return "name"
    if await cabinet_asking_siren(person_id) is not None:
        return "siren"
    return None


async def cabinet_asking_siren(person_id: int) -> Cabinet | None:
    """The cabinet whose SIREN the ``siren`` step asks for: the first one the person is an
    expert of that has none."""
    return await Cabinet.filter(memberships__person_id=person_id, memberships__role="expert",
                                siren__isnull=True).order_by("id").first()


async def progress_of(reg: Registration) -> Progress:
    sides = await live_sides(reg)
    return Progress(reg, await _step(reg, sides), sides, needed_sides(reg.document_type))


async def progress(svc: Services, actor: Actor) -> Progress | None:
    """Where the person stands (None when they never started); changes nothing."""
    reg = await latest((await _person(actor)).id)
    return await progress_of(reg) if reg is not None else None


async def waiting_for(person_id: int) -> str | None:
    """The step whose answer the person's next message or file is, when their registration
    is in progress, waits for typed text or a file, and was active within the last
    `INPUT_WINDOW` (so a PDF sent days later to be sealed is not taken for a passport)."""
    reg = await latest(person_id)
    if reg is None or reg.state != "in_progress" or reg.updated_at < clock.now() - INPUT_WINDOW:
        return None
    step = (await progress_of(reg)).step
    return step if step in INPUT_STEPS else None


async def _certificate_valid(reg: Registration) -> bool:
    if reg.certificate_id is None:
        return False
    return await Certificate.exists(id=reg.certificate_id, revoked_at=None,
                                    not_after__gt=clock.now())


# --- the person's steps ---------------------------------------------------------------------

async def _starts_afresh(reg: Registration | None) -> bool:
    """Whether the next start begins a new registration: there is none, or the last was
    refused, or its certificate is no longer valid."""
    return reg is None or not (reg.state in ("in_progress", "submitted") or (
        reg.state == "approved" and await _certificate_valid(reg)))


def _not_needed() -> RegistrationNotNeededError:
    return RegistrationNotNeededError(
        "only experts and holders of the sign delegation register: you have nothing to do")


async def current_step(svc: Services, actor: Actor) -> tuple[Progress | None, str]:
    """The person's progress and the step to show them, "start" when `start_or_resume`
    would begin a new registration; changes nothing.

    Raises PersonNotFoundError, and RegistrationNotNeededError when there is nothing to
    start.
    """
    person = await _person(actor)
    reg = await latest(person.id)
    prog = await progress_of(reg) if reg is not None else None
    if not await _starts_afresh(reg):
        return prog, prog.step
    if not await needs_registration(person):
        raise _not_needed()
    return prog, "start"


async def start_or_resume(svc: Services, actor: Actor) -> Progress:
    """The registration in progress (or submitted, or approved with a valid certificate), or
    a new one when there is none or the last was refused or its certificate revoked.

    Raises PersonNotFoundError, RegistrationNotNeededError.
    """
    person = await _person(actor)
    reg = await latest(person.id)
    if not await _starts_afresh(reg):
        if reg.state == "in_progress":
            await _save(reg)  # The person is back: what they type next is for this step.
        return await progress_of(reg)
    if not await needs_registration(person):
        raise _not_needed()
    previous = reg.id if reg is not None else None
    now = clock.now()
    async with in_transaction():
        reg = await Registration.create(person=person, state="in_progress", created_at=now,
                                        updated_at=now)
        await _record("registration.started", actor, reg, previous=previous)
    return await progress_of(reg)


async def identity_of(person: Person) -> dict:
    """The identity data the platform holds, as the person confirms it."""
    cabinets = [m.cabinet.name for m in await people.memberships_of(person)]
    return {"name": person.name, "email": person.email, "cabinets": cabinets}


async def give_full_name(svc: Services, actor: Actor, full_name: str) -> Progress:
    """The person's full name, given name first, when the one held is a single word.

    Raises RegistrationStateError, TextInvalidError, PersonNameIncompleteError.
    """
    person, reg = await _open(actor)
    name = text.check_line(full_name, "name")
    if len(name.split()) < 2:
        raise PersonNameIncompleteError(
            "give your given name and your surname, e.g. Marie Curie", name=name)
    async with in_transaction():
        await Person.filter(id=person.id).update(name=name)
        await _save(reg)
        await _record("registration.name_given", actor, reg, name=name, previous=person.name)
    return await progress_of(reg)


async def give_cabinet_siren(svc: Services, actor: Actor, siren: str) -> Progress:
    """The SIREN of the (first) cabinet the person is an expert of and that has none.

    Raises RegistrationStateError, RegistrationStepMissingError (no cabinet needs one),
    SirenInvalidError (not nine digits, or a wrong Luhn check digit).
    """
    person, reg = await _open(actor)
    cabinet = await cabinet_asking_siren(person.id)
    if cabinet is None:
        raise RegistrationStepMissingError("your cabinets already have their SIREN",
                                           step="identity")
    await people.set_cabinet_siren(actor, cabinet, siren)
    await _save(reg)
    await _record("registration.siren_given", actor, reg, cabinet=cabinet.slug,
                  siren=cabinet.siren)
    return await progress_of(reg)


async def confirm_identity(svc: Services, actor: Actor) -> Progress:
    """The person confirms their name, e-mail and cabinets.

    Raises RegistrationStateError, RegistrationStepMissingError (a one-word name or a
    cabinet's SIREN to give first: details step = name | siren).
    """
    person, reg = await _open(actor)
    if (gap := await _identity_gap(person.id)) is not None:
        raise RegistrationStepMissingError(
            "give your full name first" if gap == "name" else "give your cabinet's SIREN first",
            step=gap)
    snapshot = await identity_of(person)
    async with in_transaction():
        await _save(reg, identity_confirmed_at=clock.now(), identity_snapshot=snapshot)
        await _record("registration.identity_confirmed", actor, reg, identity=snapshot)
    return await progress_of(reg)


async def phone_bound_elsewhere(phone: str, person_id: int) -> bool:
    """True when `phone` is the mobile of another person's valid personal certificate."""
    return await Registration.filter(
        phone=phone, state="approved", certificate__revoked_at__isnull=True,
        certificate__not_after__gt=clock.now()).exclude(person_id=person_id).exists()


async def check_phone_free(phone: str, person_id: int) -> None:
    if await phone_bound_elsewhere(phone, person_id):
        raise PhoneAlreadyBoundError(
            "this mobile number is already bound to another person's personal certificate; "
            "its holder must revoke that certificate (/certificate, then Revoke) before it "
            "can be used again, or give another number", phone=phone)


async def set_mobile(svc: Services, actor: Actor, phone: str) -> str:
    """Records the mobile number and sends it a 6-digit code by SMS; returns the number.

    Raises RegistrationStateError, RegistrationStepMissingError (identity not confirmed),
    PhoneInvalidError, PhoneAlreadyBoundError, OtpRateLimitedError.
    """
    person, reg = await _open(actor)
    if reg.identity_confirmed_at is None:
        raise RegistrationStepMissingError("confirm your identity first", step="identity")
    number = people.normalize_phone(phone or "")
    if not people.PHONE_RE.match(number) or not people.is_sms_number(
            number, people.sms_regions(svc.settings)):
        raise PhoneInvalidError("this is not a mobile number: type it as +33 6 12 34 56 78")
    if await phone_bound_elsewhere(number, person.id):
        await _record("registration.mobile_refused", actor, reg, phone=number,
                      reason="phone_already_bound")
        await check_phone_free(number, person.id)
    async with in_transaction():
        code = await person_codes.issue(person, purpose=MOBILE_CODE, channel="sms",
                                        bound_to=number)
        await _save(reg, phone=number, phone_verified_at=None)
        await _record("registration.mobile_code_sent", actor, reg, phone=number)
        # Sent (and retried) by the SMS worker, which blanks the code once it is out.
        await notifications.enqueue(
            channel="sms", template="registrant/mobile_code", recipient=number,
            language=person.language, person_id=person.id,
            context={"code": code, "minutes": int(otp.CODE_LIFETIME.total_seconds() // 60)})
    return number


async def verify_mobile(svc: Services, actor: Actor, code: str) -> Progress:
    """Confirms the mobile with the code it received.

    Raises RegistrationStateError, RegistrationStepMissingError (no number yet),
    OtpInvalidError (details: attempts_left), OtpLockedError, OtpExpiredError,
    PhoneAlreadyBoundError.
    """
    person, reg = await _open(actor)
    if not reg.phone:
        raise RegistrationStepMissingError("give your mobile number first", step="mobile")
    await person_codes.check_and_consume(person, code, purpose=MOBILE_CODE, bound_to=reg.phone)
    await check_phone_free(reg.phone, person.id)
    async with in_transaction():
        await _save(reg, phone_verified_at=clock.now())
        await _record("registration.mobile_verified", actor, reg, phone=reg.phone)
    return await progress_of(reg)


async def choose_document_type(svc: Services, actor: Actor, document_type: str) -> Progress:
    """id_card, passport or driving_licence; another type than before drops the files sent.

    Raises RegistrationStateError, PhoneNotVerifiedError, IdentityDocumentTypeInvalidError.
    """
    _, reg = await _open(actor)
    if reg.phone_verified_at is None:
        raise PhoneNotVerifiedError("confirm your mobile number first")
    if document_type not in DOCUMENT_TYPES:
        raise IdentityDocumentTypeInvalidError(
            f"unknown document type {document_type!r}: use {', '.join(DOCUMENT_TYPES)}")
    dropped: list[str] = []
    async with in_transaction():
        if reg.document_type and reg.document_type != document_type:
            dropped = await _drop(reg, SIDES)
        await _save(reg, document_type=document_type)
        await _record("registration.document_type_chosen", actor, reg,
                      document_type=document_type)
    await _erase(svc, dropped)
    return await progress_of(reg)


async def _drop(reg: Registration, sides) -> list[str]:
    refs = await IdentityDocument.filter(registration_id=reg.id, side__in=list(sides),
                                         deleted_at=None).values_list("storage_ref", flat=True)
    await IdentityDocument.filter(storage_ref__in=list(refs) or [""]).update(
        deleted_at=clock.now())
    return list(refs)


async def _erase(svc: Services, refs: list[str]) -> None:
    if refs:
        vault = IdentityVault(svc.settings)
        for ref in refs:
            await vault.remove(ref)


async def add_document(svc: Services, actor: Actor, side: str, filename: str, data: bytes
                       ) -> IdentityDocument:
    """Stores one side of the identity document, encrypted; a new upload replaces the old.

    Raises RegistrationStateError, RegistrationStepMissingError (no type chosen),
    IdentityDocumentSideInvalidError, IdentityDocumentFormatError,
    IdentityDocumentGreyscaleError, IdentityDocumentTooSmallError,
    IdentityDocumentTooLargeError.
    """
    _, reg = await _open(actor)
    if not reg.document_type:
        raise RegistrationStepMissingError("choose the type of identity document first",
                                           step="document_type")
    if side not in needed_sides(reg.document_type):
        raise IdentityDocumentSideInvalidError(
            "a passport has only a front side" if side in SIDES else "use front or back",
            side=side)
    content_type = check_file(data)
    vault = IdentityVault(svc.settings)
    ref = await vault.store(data)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        async with in_transaction():
            replaced = await _drop(reg, [side])
            doc = await IdentityDocument.create(
                registration=reg, side=side, content_type=content_type, size=len(data),
                sha256=sha256, storage_ref=ref, created_at=clock.now())
            await _save(reg)
            await _record("registration.document_added", actor, reg, side=side,
                          document_type=reg.document_type, content_type=content_type,
                          size=len(data), sha256=sha256, filename=text.clean_line(filename, 255))
    except BaseException:
        await vault.remove(ref)
        raise
    await _erase(svc, replaced)
    return doc


def _legal_text(templates: Templates, name: str, language: str) -> tuple[str, str]:
    body = templates.render(f"legal/registrant/{name}", language).strip()
    return body, hashlib.sha256(body.encode("utf-8")).hexdigest()


def agreement_text(templates: Templates, language: str) -> tuple[str, str]:
    """The subscription agreement in `language` and the SHA-256 of that text."""
    return _legal_text(templates, "agreement", language)


def policy_texts(templates: Templates, settings: CoreSettings,
                 language: str) -> dict[str, tuple[str, str]]:
    """The CGU in force ("terms": the versioned text a cabinet's expert accepts for the
    cabinet, workflows.terms) and the data-protection policy ("privacy"), each with its
    SHA-256."""
    cgu = terms.text(settings, terms.current_version(settings), language).strip()
    return {"terms": (cgu, hashlib.sha256(cgu.encode("utf-8")).hexdigest()),
            "privacy": _legal_text(templates, "privacy", language)}


async def sign_agreement(svc: Services, actor: Actor) -> Progress:
    """The person signs the subscription agreement (the text in their language, by hash).

    Raises RegistrationStateError, IdentityDocumentMissingError (document not sent yet).
    """
    person, reg = await _open(actor)
    await _require_documents(reg)
    _, sha256 = agreement_text(svc.templates, person.language)
    async with in_transaction():
        await _save(reg, agreement_signed_at=clock.now(), agreement_sha256=sha256)
        await _record("registration.agreement_signed", actor, reg, agreement_sha256=sha256,
                      language=person.language)
    return await progress_of(reg)


async def accept_policies(svc: Services, actor: Actor) -> Progress:
    """The person accepts the CGU and the data-protection policy. Raises
    RegistrationStateError, RegistrationStepMissingError (agreement not signed)."""
    person, reg = await _open(actor)
    if reg.agreement_signed_at is None:
        raise RegistrationStepMissingError("sign the subscription agreement first",
                                           step="agreement")
    texts = policy_texts(svc.templates, svc.settings, person.language)
    version = terms.current_version(svc.settings)
    now = clock.now()
    async with in_transaction():
        await _save(reg, terms_accepted_at=now, privacy_accepted_at=now)
        await _record("registration.policies_accepted", actor, reg,
                      terms_sha256=texts["terms"][1], privacy_sha256=texts["privacy"][1],
                      terms_version=version, language=person.language)
    # The same CGU, accepted by an expert, opens each of their cabinets (once: a cabinet
    # whose terms another expert accepted keeps that acceptance).
    for membership in await Membership.filter(person_id=person.id, role="expert"
                                              ).prefetch_related("cabinet"):
        await terms.accept_terms(svc, actor, membership.cabinet, version, person=person,
                                 via="registration")
    return await progress_of(reg)


async def _require_documents(reg: Registration) -> None:
    if not reg.document_type:
        raise RegistrationStepMissingError("choose the type of identity document first",
                                           step="document_type")
    sides = await live_sides(reg)
    for side in needed_sides(reg.document_type):
        if side not in sides:
            raise IdentityDocumentMissingError(
                f"the {side} side of the identity document is missing: send it", side=side)


async def submit(svc: Services, actor: Actor) -> Progress:
    """Sends the registration to the operator's review queue.

    Raises RegistrationStateError, RegistrationStepMissingError (details: step),
    PhoneNotVerifiedError, IdentityDocumentMissingError (details: side),
    PhoneAlreadyBoundError.
    """
    person, reg = await _open(actor)
    if reg.identity_confirmed_at is None:
        raise RegistrationStepMissingError("confirm your identity first", step="identity")
    if reg.phone_verified_at is None:
        raise PhoneNotVerifiedError("confirm your mobile number first")
    await _require_documents(reg)
    if reg.agreement_signed_at is None:
        raise RegistrationStepMissingError("sign the subscription agreement first",
                                           step="agreement")
    if reg.terms_accepted_at is None or reg.privacy_accepted_at is None:
        raise RegistrationStepMissingError("accept the CGU and the data-protection policy",
                                           step="policies")
    await check_phone_free(reg.phone, person.id)
    now = clock.now()
    async with in_transaction():
        moved = await Registration.filter(id=reg.id, state="in_progress").update(
            state="submitted", submitted_at=now, updated_at=now)
        if moved != 1:
            raise RegistrationStateError("the registration was already submitted")
        reg.state, reg.submitted_at = "submitted", now
        await _record("registration.submitted", actor, reg, document_type=reg.document_type,
                      sides=list(await live_sides(reg)))
    return await progress_of(reg)
