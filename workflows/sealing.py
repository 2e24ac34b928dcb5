"""Sealing: a cabinet's organisation seal applied to a PDF at once, from any channel."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import PurePath

from tortoise.exceptions import IntegrityError

from workflows import (
    archive,
    billing,
    clock,
    delegations,
    evidence,
    lookups,
    observations,
    people,
    terms,
    text,
)
from workflows.actors import Actor
from workflows.errors import CabinetNotFoundError, CreditInsufficientError
from workflows.models import Cabinet, Membership, Operation, Person
from workflows.services import Services
from workflows.transactions import in_transaction


@dataclass(frozen=True)
class SealResult:
    sha256: str
    filename: str
    size: int
    cabinet: str
    credit_left: int
    source_sha256: str
    certificate_serial: str
    replayed: bool = False


def sealed_filename(filename: str) -> str:
    """`lettre.pdf` -> `lettre-scelle.pdf`."""
    stem = PurePath(filename or "document.pdf").stem or "document"
    return f"{stem}-scelle.pdf"


async def _replay(key: str | None) -> SealResult | None:
    if not key:
        return None
    done = await Operation.get_or_none(key=key)
    if done is None:
        return None
    return SealResult(**{**done.result, "replayed": True})


async def _cabinet_for(actor: Actor, cabinet: str | None
                       ) -> tuple[Person | None, Cabinet, Membership | None]:
    if actor.person_id is None:
        if not cabinet:
            raise CabinetNotFoundError("name the cabinet whose seal to apply")
        return None, await people.get_cabinet(cabinet), None
    membership = await lookups.acting_membership(actor.person_id, cabinet)
    return membership.person, membership.cabinet, membership


async def seal_document(svc: Services, actor: Actor, *, cabinet: str | None, filename: str,
                        data: bytes, idempotency_key: str | None = None) -> SealResult:
    """Seals one PDF with the cabinet's seal certificate, bills it and records the evidence.

    The operator (an actor without person) needs no delegation; a person needs the
    `seal` right at the moment of the seal. With an idempotency key already done,
    the first result comes back with ``replayed=True`` and nothing is billed.
    Raises CabinetNotFoundError, CabinetAmbiguousError, NotAMemberError,
    TermsNotAcceptedError, DelegationMissingError, CreditInsufficientError and the
    Document*Error family.
    """
    if (done := await _replay(idempotency_key)) is not None:
        return done
    # A filename names a file already sent: repaired, never refused.
    filename = text.clean_line(filename, 255) or "document.pdf"
    person, cab, membership = await _cabinet_for(actor, cabinet)
    await terms.require_accepted(cab, svc.settings, person)
    if person is not None:
        await delegations.basis(person, cab, membership, "seal")
    cost = await billing.price(cab, "seal")
    # Refuse before any signing work when the credit is already short. `cab` may come from a
    # cache: its balance only says when to read the real one; the debit at commit is the
    # check that counts.
    if cost and cab.credit_balance < cost and (available := await billing.balance(cab)) < cost:
        observations.emit("credit_refused")
        raise CreditInsufficientError(f"not enough credit: {cost} needed, {available} available",
                                      needed=cost, available=available)
    started = time.perf_counter()
    source_sha256 = hashlib.sha256(data).hexdigest()
    cert, key = await svc.trust.seal_key_for(cab)
    bundle = await svc.trust.validation_bundle([cert])
    # The signing worker checks the untrusted PDF first (off this process), then seals it.
    sealed = await svc.engine.sign(data, key, reason=f"Cachet de {cab.name}", name=cab.name,
                                   bundle=bundle,
                                   intake=(filename, svc.settings.max_document_bytes))
    out_name = sealed_filename(filename)
    # On disk before the transaction, which then holds the database for statements only.
    sealed_sha256 = await svc.documents.write(sealed)
    until = await archive.lapses(svc, sealed)
    try:
        async with in_transaction():
            # The delegation is checked again at commit: it must hold at the moment of the seal.
            basis = "operator" if person is None else await delegations.require(person, cab, "seal")
            left = await billing.debit(
                cab, cost, operation="seal", reference=idempotency_key or out_name,
                low_credit_threshold=svc.settings.low_credit_threshold) if cost else \
                await billing.balance(cab)
            await svc.documents.register(sealed_sha256, len(sealed), archive_until=until)
            result = SealResult(sha256=sealed_sha256, filename=out_name, size=len(sealed),
                                cabinet=cab.slug, credit_left=left, source_sha256=source_sha256,
                                certificate_serial=cert.serial)
            await evidence.record("seal.applied", actor, cabinet_id=cab.id,
                                  person_id=person.id if person else None,
                                  data={"filename": filename, "source_sha256": source_sha256,
                                        "sealed_sha256": sealed_sha256, "basis": basis,
                                        "price": cost, "certificate": cert.serial,
                                        "idempotency_key": idempotency_key})
            if idempotency_key:
                await Operation.create(key=idempotency_key, kind="seal", cabinet=cab,
                                       result=asdict(result), created_at=clock.now())
    except IntegrityError:
        # A concurrent call with the same key committed first: its result stands.
        if (done := await _replay(idempotency_key)) is not None:
            return done
        raise
    observations.emit("seal", channel=actor.channel, seconds=time.perf_counter() - started)
    return result
