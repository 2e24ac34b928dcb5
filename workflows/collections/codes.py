"""A signer's one-time codes: what they are bound to, sending them, checking them, and
blanking dead ones from the outbox.

A code is bound to the hashes of the collection's original documents, so a code sent for
one set of documents cannot sign another. Sending happens in one transaction with its
mail and its evidence; a text message goes after the commit.
"""

from __future__ import annotations

from workflows import evidence, notifications, otp, personal_certificates, sms
from workflows.actors import Actor
from workflows.errors import CollectionInvalidError, OtpLockedError, SmsUnavailableError
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Notification,
    Person,
    Signer,
    SignerCode,
)
from workflows.services import Services
from workflows.transactions import in_transaction


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


async def checked_code(collection: Collection, signer: Signer, code: str, actor: Actor):
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


async def send(svc: Services, collection: Collection, signer: Signer, channel: str,
               actor: Actor) -> str:
    """Sends the signer a new code by mail or SMS; returns the channel. Raises
    CollectionInvalidError (another channel), SmsUnavailableError, OtpRateLimitedError,
    PersonalCertificateMissingError / PersonalCertificateRevokedError."""
    if channel not in ("mail", "sms"):
        raise CollectionInvalidError("a code is sent by mail or sms")
    if channel == "sms" and not signer.phone:
        raise SmsUnavailableError("no mobile number is known for this signer")
    bound_to = await code_binding(collection)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    if signer.person_id is not None:
        person = await Person.get(id=signer.person_id)
        if await personal_certificates.signs_in_own_name(person, cabinet):
            # Refused before any code is sent: without registration the signature cannot
            # happen (raises PersonalCertificateMissingError / ...RevokedError).
            await personal_certificates.require_signing_certificate(svc, person)
    # One transaction (one commit) for the code, its mail and its evidence: fifty signers
    # asking at once queue on the database's commits, not on four each.
    async with in_transaction():
        code = await otp.issue(signer, channel=channel, bound_to=bound_to)
        await scrub_code_mails(signer)  # The codes sent before are dead now.
        context = {"code": code, "signer_name": signer.name, "collection_id": collection.id,
                   "title": collection.title, "cabinet_name": cabinet.name,
                   "minutes": int(otp.CODE_LIFETIME.total_seconds() // 60)}
        if channel == "mail":
            mail = await notifications.enqueue(
                channel="mail", template="signer/code", recipient=signer.email,
                language=signer.language, context=context, person_id=signer.person_id,
                signer_id=signer.id)
            await SignerCode.filter(signer_id=signer.id, state="active").update(
                notification_id=mail.id)
        await evidence.record("signer.code_sent", actor, cabinet_id=collection.cabinet_id,
                              person_id=signer.person_id, collection_id=collection.id,
                              data={"signer": signer.position, "channel": channel})
    if channel == "sms":
        # After the commit: a text message cannot be taken back if the transaction failed.
        await sms.provider_for(svc.settings).send(
            signer.phone, svc.templates.render("sms/signer/code", signer.language,
                                               **context).strip())
    return channel


async def scrub_code_mails(signer: Signer) -> None:
    """Blanks the codes of this signer's code mails (dead codes need not stay readable in
    the outbox table; only their salted hash is kept, in SignerCode)."""
    ids = await SignerCode.filter(signer_id=signer.id, notification_id__not_isnull=True,
                                  ).values_list("notification_id", flat=True)
    for n in await Notification.filter(id__in=list(ids) or [0]):
        if n.context.get("code") != "------":
            await Notification.filter(id=n.id).update(context={**n.context, "code": "------"})
