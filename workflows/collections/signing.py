"""A signer's signature on every document of a collection, serialised per document.

External signers get a one-time certificate issued after their code; internal signers
(members of the cabinet) sign with their personal certificate. The PAdES work happens
outside any transaction; one transaction then moves each document to its new version
only over the version the signature was made on, consumes the code, marks the signer,
captures the credit and records the evidence. A signature made over a version another
signer moved meanwhile (another process) is made again over the new one: none is lost.
"""

from __future__ import annotations

import hashlib

from workflows import billing, clock, evidence, otp, personal_certificates, terms
from workflows.actors import Actor
from workflows.collections import finalisation, notices, versions
from workflows.collections.codes import scrub_codes
from workflows.errors import AlreadySignedError, CollectionStateError, OtpExpiredError
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Document,
    Person,
    Reservation,
    Signer,
    SignerCode,
)
from workflows.pdf.stamp import StampSpec
from workflows.services import Services
from workflows.transactions import in_transaction


MAX_RETRIES = 8
# Stamps on the last page: a grid from the bottom left, one cell per signer position.
STAMP_COLUMNS, STAMP_ROWS = 3, 13
STAMP_WIDTH, STAMP_HEIGHT, STAMP_MARGIN = 175.0, 56.0, 20.0


class _VersionMoved(Exception):
    """Another process signed a document between our read and our commit."""


def stamp_for(position: int):
    """Where signer `position`'s visible stamp goes on the last page."""

    cell = (position - 1) % (STAMP_COLUMNS * STAMP_ROWS)
    col, row = cell % STAMP_COLUMNS, cell // STAMP_COLUMNS
    x1 = STAMP_MARGIN + col * (STAMP_WIDTH + 5)
    y1 = STAMP_MARGIN + row * (STAMP_HEIGHT + 4)
    return StampSpec(page=-1, box=(x1, y1, x1 + STAMP_WIDTH, y1 + STAMP_HEIGHT),
                     template="%(signer)s\n%(ts)s\n%(reason)s")


async def certificate_for(svc: Services, signer: Signer):
    """The certificate this signer signs with: personal for an expert or `sign` holder of the
    cabinet (who must be registered), else one-time (external signers, co-signers)."""
    if signer.person_id is not None:
        person = await Person.get(id=signer.person_id)
        cabinet = await Cabinet.get(id=(await Collection.get(id=signer.collection_id)).cabinet_id)
        if await personal_certificates.signs_in_own_name(person, cabinet):
            return await personal_certificates.require_signing_certificate(svc, person)
    return await svc.trust.issue_one_time_certificate(signer.name, signer.email)


async def _sign_documents(svc: Services, collection: Collection, signer: Signer, key, bundle):
    """Signs the current version of every document; returns [(row, version, before, Document)]."""
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    reason = f"Signé par {signer.name} – collecte {collection.id} ({cabinet.name})"
    out = []
    rows = await (CollectionDocument.filter(collection_id=collection.id)
                  .select_related("original", "current").order_by("position"))
    for row in rows:
        base = row.current or row.original
        signed, sha256 = await svc.engine.sign_file(
            await svc.documents.local_path(base.sha256), key, reason=reason, name=signer.name,
            stamp=stamp_for(signer.position), bundle=bundle,
            field_name=f"Signature-{collection.id}-{signer.position}",
            source_sha256=base.sha256, lineage=f"collection-document:{row.id}")
        stored = await svc.documents.adopt(signed, sha256)
        out.append((row, row.version, base.sha256, stored))
    return out


async def sign(svc: Services, collection: Collection, signer: Signer, code_row: SignerCode,
               actor: Actor, *, consent: str | None = None) -> Signer:
    """Adds the signer's B-LT signature with a visible stamp to every document.

    When it is the last signature, the collection completes and is finalised (document
    timestamps, sealed evidence report, mails). Raises AlreadySignedError,
    OtpExpiredError (the code was used meanwhile), CollectionStateError (the collection
    ended meanwhile), TermsNotAcceptedError and TrustServiceError. `consent` is the
    wording the signer agreed to, kept in the evidence log with its SHA-256.
    """
    # Checked before the code is consumed, so a refused signer keeps a usable code.
    await terms.require_signable(
        collection, svc.settings,
        await Person.get(id=signer.person_id) if signer.person_id else None)
    cert = await certificate_for(svc, signer)
    key = await svc.trust.signing_key(cert)
    # The worker answers the OCSP orders right after the signature's timestamp and writes
    # them to the DSS at once (B-LT), whatever the collection's size: workflows.pdf.dss
    # keeps each DSS update's cost independent of what the signers before wrote.
    bundle = await svc.trust.validation_bundle([cert])
    completed = False
    async with versions.lock(collection.id):
        for _ in range(MAX_RETRIES):
            signed = await _sign_documents(svc, collection, signer, key, bundle)
            try:
                completed = await _commit(svc, collection, signer, code_row, actor, cert,
                                          signed, consent)
            except _VersionMoved:
                await versions.forget(svc, [stored for *_, stored in signed])
                continue
            except BaseException:
                await versions.forget(svc, [stored for *_, stored in signed])
                raise
            # The versions just replaced are intermediate states nobody will read again
            # (the evidence log keeps their hashes): without this, a collection of n
            # signers would keep n copies of an ever larger file.
            await versions.forget(
                svc, [await Document.get(sha256=before) for _r, _v, before, _s in signed])
            break
        else:
            raise CollectionStateError("the documents kept changing; try again",
                                       collection_id=collection.id)
    if completed:
        await finalisation.finalize(svc, collection.id)
    return await Signer.get(id=signer.id)


def _consent(words: str | None) -> dict:
    if not words:
        return {}
    return {"consent_text": words, "consent_sha256": hashlib.sha256(words.encode()).hexdigest()}


async def _commit(svc: Services, collection: Collection, signer: Signer, code_row: SignerCode,
                  actor: Actor, cert, signed, consent: str | None = None) -> bool:
    now = clock.now()
    async with in_transaction():
        # Locks the collection row (PostgreSQL) so a cancel or expiry waits for this commit.
        alive = await Collection.filter(id=collection.id, state="in_progress").update(
            state="in_progress")
        if alive != 1:
            fresh = await Collection.get(id=collection.id)
            raise CollectionStateError(f"the collection is {fresh.state}",
                                       collection_id=collection.id, state=fresh.state)
        for row, version, _before, stored in signed:
            if not await versions.move(row, version, stored):
                raise _VersionMoved()
        if not await otp.consume(code_row):
            raise OtpExpiredError("this code was already used: ask for a new one")
        await scrub_codes(signer)
        done = await Signer.filter(id=signer.id, state="pending").update(
            state="signed", signed_at=now, certificate_serial=cert.serial)
        if done != 1:
            raise AlreadySignedError("you have already signed")
        fresh = await Collection.get(id=collection.id)
        cabinet = await Cabinet.get(id=collection.cabinet_id)
        price = await billing.price(cabinet, "signature")
        if fresh.reservation_id and price:
            reservation = await Reservation.get(id=fresh.reservation_id)
            for _document in signed:  # one signature per document
                await billing.capture(reservation, price, operation="signature",
                                      reference=f"collection:{collection.id}:{signer.position}")
        await evidence.record(
            "signer.signed", actor, cabinet_id=collection.cabinet_id,
            person_id=signer.person_id, collection_id=collection.id,
            data={"signer": signer.position, "name": signer.name, "email": signer.email,
                  "internal": signer.person_id is not None, "certificate": cert.serial,
                  "certificate_kind": getattr(cert, "kind", None),
                  "code_channel": code_row.channel,
                  "consent": True, **_consent(consent),
                  "documents": [{"position": row.position, "before_sha256": before,
                                 "after_sha256": stored.sha256}
                                for row, _v, before, stored in signed]})
        await notices.to_initiator(collection, "signed", key=f"signed:{signer.id}",
                                   signer=signer.name)
        # Only the next pending signer, not every one: the first signer of a 1,000-signer
        # collection would otherwise load 999 rows to learn that some remain.
        following = await Signer.filter(collection_id=collection.id, state="pending").order_by(
            "position").first()
        if following is None:
            await Collection.filter(id=collection.id, state="in_progress").update(
                state="completed", ended_at=now)
            if fresh.reservation_id:  # Closes the reservation; what was not used comes back.
                await billing.release(await Reservation.get(id=fresh.reservation_id),
                                      reference=f"collection:{collection.id}")
            await evidence.record("collection.completed", Actor.system(),
                                  cabinet_id=collection.cabinet_id, collection_id=collection.id,
                                  data={"signers": await Signer.filter(
                                      collection_id=collection.id).count()})
            return True
        if collection.ordered:
            await notices.invite_all(svc, fresh, [following], Actor.system())
    return False
