"""The signer's side of a collection: opening their link, asking for a code, signing or
declining; and an internal signer (a member of the cabinet) doing the same from the chat.

Every action first checks the one rule of what a signer may do (view.require_actionable).
"""

from __future__ import annotations

from workflows import clock, evidence, terms, text
from workflows.actors import Actor
from workflows.collections import codes, lifecycle, signing, states
from workflows.collections.view import SignerView, require_actionable, signer_by_token
from workflows.errors import (
    ConsentRequiredError,
    DeclineReasonRequiredError,
    NotASignerError,
)
from workflows.models import Collection, CollectionDocument, Person, Signer
from workflows.services import Services
from workflows.transactions import in_transaction


MAX_REASON = lifecycle.MAX_REASON


def signer_actor(signer: Signer, *, channel: str = "web", ip: str | None = None,
                 user_agent: str | None = None) -> Actor:
    """The signer as the actor of the evidence log, with where they acted from."""
    origin = {"signer": signer.position, "email": signer.email}
    if ip:
        origin["ip"] = ip
    if user_agent:
        origin["user_agent"] = user_agent[:512]
    return Actor(person_id=signer.person_id, channel=channel, origin=origin)


def consent_text(svc: Services, language: str, document_count: int) -> str:
    """The consent sentence the signer page shows (templates/web/signer/consent)."""
    return " ".join(svc.templates.render("web/signer/consent", language,
                                         document_count=document_count).split())


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


async def send_code(svc: Services, token: str, channel: str = "mail", *, ip: str | None = None,
                    user_agent: str | None = None) -> str:
    """Sends the signer a new 6-digit code by mail or SMS; returns the channel used.

    Raises SignerLinkInvalidError, LinkExpiredError, AlreadySignedError,
    AlreadyDeclinedError, NotYourTurnError, TermsNotAcceptedError, SmsUnavailableError,
    OtpRateLimitedError, and PersonalCertificateMissingError / PersonalCertificateRevokedError
    for a member who signs in their own name without an approved registration.
    """
    signer = await signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await require_actionable(collection, signer)
    # No code for a signature that would be refused.
    await terms.require_signable(collection, svc.settings)
    return await codes.send(svc, collection, signer, channel,
                            signer_actor(signer, ip=ip, user_agent=user_agent))


async def sign_with_code(svc: Services, token: str, code: str, *, consent: bool, ip: str | None,
                         user_agent: str | None, language: str | None = None) -> Signer:
    """Signs every document of the collection for this signer, after their code.

    Raises SignerLinkInvalidError, ConsentRequiredError, LinkExpiredError,
    AlreadySignedError, AlreadyDeclinedError, NotYourTurnError, TermsNotAcceptedError,
    OtpInvalidError, OtpExpiredError, OtpLockedError, and TrustServiceError when signing
    fails.
    """
    signer = await signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await require_actionable(collection, signer)
    if not consent:
        raise ConsentRequiredError("tick the box to consent to sign electronically")
    actor = signer_actor(signer, ip=ip, user_agent=user_agent)
    code_row = await codes.checked_code(collection, signer, code, actor)
    # The words the signer agreed to, in the language their page was shown in.
    count = await CollectionDocument.filter(collection_id=collection.id).count()
    words = consent_text(svc, language if language in ("fr", "en") else signer.language, count)
    return await signing.sign(svc, collection, signer, code_row, actor, consent=words)


async def decline(svc: Services, token: str, reason: str, *, ip: str | None, user_agent: str | None
                  ) -> Signer:
    """The signer refuses to sign, with a reason; the collection ends declined.

    Raises SignerLinkInvalidError, DeclineReasonRequiredError, TextInvalidError,
    LinkExpiredError, AlreadySignedError, AlreadyDeclinedError, NotYourTurnError.
    """
    signer = await signer_by_token(token)
    collection = await Collection.get(id=signer.collection_id)
    await require_actionable(collection, signer)
    reason = text.check_text(reason, "reason", MAX_REASON)
    if not reason:
        raise DeclineReasonRequiredError("say why you decline to sign")
    async with in_transaction():
        await lifecycle.end_declined(svc, signer_actor(signer, ip=ip, user_agent=user_agent),
                                     collection, signer, reason)
    return await Signer.get(id=signer.id)


# --- internal signers (Telegram /sign) ------------------------------------------------

async def _internal_signer(actor: Actor, collection_id) -> tuple[Collection, Signer]:
    person, collection = await states.visible(actor, collection_id)
    if person is None:
        raise NotASignerError("only a person signs")
    signer = await Signer.get_or_none(collection_id=collection.id, person_id=person.id)
    if signer is None:
        raise NotASignerError(f"you are not a signer of collection {collection.id}")
    await require_actionable(collection, signer)
    return collection, signer


async def request_signature_code(svc: Services, actor: Actor, collection_id) -> str:
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
    await terms.require_signable(collection, svc.settings, await states.person_of(actor))
    return await codes.send(svc, collection, signer, channel, actor)


async def sign_internal(svc: Services, actor: Actor, collection_id, code: str) -> Signer:
    """An internal signer signs with their personal certificate after their code.

    Raises CollectionNotFoundError, NotASignerError and what `sign_with_code` raises.
    """
    collection, signer = await _internal_signer(actor, collection_id)
    code_row = await codes.checked_code(collection, signer, code, actor)
    return await signing.sign(svc, collection, signer, code_row, actor)
