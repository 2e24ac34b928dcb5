"""Archive timestamps: every stored B-LTA output gets a fresh one before the last one lapses.

A PAdES B-LTA document holds as long as its newest document timestamp can be checked: until
the certificate of the TSA unit that made it expires. Before that (PARAPHE_ARCHIVE_RENEW_BEFORE
ahead, two years by default), validation data for that timestamp and a new document
timestamp over it are appended (EN 319 142-1 §5.5, the LTA chain). The result is a new
Document; the old one is kept, marked `renewed_by` the new one, and what pointed at it (a
collection's current version, its evidence report) points at the new one.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from tortoise.expressions import F

from workflows import clock, evidence
from workflows.actors import Actor
from workflows.errors import CertificateNotFoundError, ParapheError
from workflows.models import Collection, CollectionDocument, Document
from workflows.services import Services
from workflows.transactions import in_transaction
from workflows.trust import profiles


log = logging.getLogger("paraphe.archive")
BATCH = 50


@dataclass(frozen=True)
class Renewal:
    """One document given a fresh archive timestamp."""

    filename: str
    before_sha256: str
    after_sha256: str
    archive_until: str | None  # ISO 8601: when the new timestamp's TSA certificate expires


def _signatures(data: bytes) -> list:
    return PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures


def _newest_timestamp_cert(signatures: list):
    """The asn1crypto certificate of the TSA that made the newest document timestamp."""
    stamps = [s for s in signatures if s.sig_object_type == "/DocTimeStamp"]
    return stamps[-1].signer_cert if stamps else None


def _renewal_certs(data: bytes) -> list:
    """The asn1crypto certificates whose fresh validation data a renewal adds: the TSA's of
    the newest document timestamp; in a file that has none yet (a B-LT output stored before
    B-LTA), every signer's and the TSA's of every signature timestamp."""
    signatures = _signatures(data)
    if (tsa := _newest_timestamp_cert(signatures)) is not None:
        return [tsa]
    certs = []
    for sig in signatures:
        certs.append(sig.signer_cert)
        certs += [extract_certificate_info(token).signer_cert
                  for token in extract_tst_data_iter(sig.signer_info, signed=False)]
    return certs


def _last_timestamp_cert(data: bytes):
    return _newest_timestamp_cert(_signatures(data))


async def lapses(svc: Services, data: bytes) -> datetime | None:
    """When the newest archive timestamp of `data`, just made, stops holding: the expiry of
    its TSA certificate (the embedded unit's, known here; an external TSA's, read from the
    file)."""
    if not svc.settings.tsa_url:
        return svc.trust.authorities[profiles.TSA].row.not_after
    cert = await asyncio.to_thread(_last_timestamp_cert, data)
    return cert.not_valid_after if cert is not None else None


async def renew_due(svc: Services, *, before: datetime | None = None, limit: int = BATCH,
                    stored_before: datetime | None = None) -> list[Renewal]:
    """Renews the archive timestamp of up to `limit` stored documents whose newest one
    lapses before `before` (default: now + PARAPHE_ARCHIVE_RENEW_BEFORE), the soonest
    first, among those stored before `stored_before` when given (so a caller looping until
    nothing is left never renews its own output again); the embedded TSA unit is replaced
    first when it is due. Returns what was renewed. A document that cannot be renewed now
    is logged and left for the next run."""
    await svc.trust.renew_tsa_if_due()
    cutoff = before or clock.now() + svc.settings.archive_renew_before
    done = []
    query = Document.filter(archive_until__lte=cutoff, renewed_by_id=None)
    if stored_before is not None:
        query = query.filter(created_at__lt=stored_before)
    rows = await query.order_by("archive_until").limit(limit)
    for doc in rows:
        try:
            renewal = await renew_document(svc, doc)
        except ParapheError:
            log.exception("renewing the archive timestamp of %s failed", doc.sha256)
            continue
        if renewal is not None:
            done.append(renewal)
    return done


async def renew_document(svc: Services, doc: Document) -> Renewal | None:
    """Appends validation data for the newest archive timestamp and a fresh document
    timestamp over it; stores the result as a new version. Returns None when another
    instance renewed it first. Raises DocumentNotFoundError, DocumentBrokenError and
    TrustServiceError."""
    data = await svc.documents.read(doc.sha256)
    certs = []
    for cert in await asyncio.to_thread(_renewal_certs, data):
        try:
            svc.trust.chain_of(cert.dump())
        except CertificateNotFoundError:  # An external TSA's: only ours get fresh data here.
            continue
        certs.append(cert)
    bundle = await svc.trust.validation_bundle(certs)
    renewed = await svc.engine.timestamp(data, bundle, strict=False)
    until = await lapses(svc, renewed)
    new = await svc.documents.put(renewed, archive_until=until)
    async with in_transaction():
        if not await Document.filter(id=doc.id, renewed_by_id=None).update(renewed_by_id=new.id):
            return None  # Renewed meanwhile by another instance; ours stays unreferenced.
        rows = await CollectionDocument.filter(current_id=doc.id).values_list(
            "id", "collection_id", "filename")
        if rows:
            await CollectionDocument.filter(current_id=doc.id).update(
                current_id=new.id, version=F("version") + 1)
        reports = await Collection.filter(report_pdf_id=doc.id).values_list("id", flat=True)
        if reports:
            await Collection.filter(report_pdf_id=doc.id).update(report_pdf_id=new.id)
        collection_id = rows[0][1] if rows else (reports[0] if reports else None)
        cabinet_id = None
        if collection_id is not None:
            cabinet_id = (await Collection.get(id=collection_id)).cabinet_id
        # Names belong to what uploaded the bytes (a collection, a report), not to the blob.
        name = rows[0][2] if rows else (
            f"preuve-{reports[0]}.pdf" if reports else f"{doc.sha256[:16]}.pdf")
        renewal = Renewal(filename=name, before_sha256=doc.sha256,
                          after_sha256=new.sha256,
                          archive_until=until.isoformat() if until else None)
        await evidence.record("document.archive_renewed", Actor.system(),
                              cabinet_id=cabinet_id, collection_id=collection_id,
                              data={**asdict(renewal), "previous_until": (
                                  doc.archive_until.isoformat() if doc.archive_until else None)})
    return renewal
