"""The end of a completed collection: a document timestamp (B-LTA) on every document, the
sealed evidence report stored, everyone mailed the signed copies.

Run right after the last signature, and by a sweep for what a crash left unfinished; it
holds the collection's version lock (versions.py) as signing does.
"""

from __future__ import annotations

import hashlib

from workflows import archive, clock, evidence
from workflows.actors import Actor
from workflows.collections import notices, versions
from workflows.collections import report as report_mod
from workflows.collections.view import signed_name
from workflows.models import Collection, CollectionDocument, Person
from workflows.services import Services
from workflows.transactions import in_transaction


async def finalize(svc: Services, collection_id: int) -> bool:
    """Completes a completed collection: a document timestamp (B-LTA) on every document,
    the sealed reports stored, everyone mailed the signed copies. Idempotent; returns
    False when there was nothing to do. Raises TrustServiceError (a sweep retries)."""
    collection = await Collection.get(id=collection_id)
    if collection.state != "completed" or collection.finalized_at is not None:
        return False
    async with versions.lock(collection_id):
        collection = await Collection.get(id=collection_id)
        if collection.finalized_at is not None:
            return False
        # Each signature carries its own data already: fresh data for the TSA's chain.
        bundle = await svc.trust.validation_bundle([])
        rows = await (CollectionDocument.filter(collection_id=collection_id)
                      .prefetch_related("original", "current").order_by("position"))
        stamped = []
        for row in rows:
            base = row.current or row.original
            data = await svc.documents.read(base.sha256)
            out = await svc.engine.timestamp(data, bundle)
            stored = await svc.documents.put(out, archive_until=await archive.lapses(svc, out))
            if await versions.move(row, row.version, stored) and row.current is not None:
                await versions.forget(svc, [row.current])
            stamped.append({"position": row.position, "before_sha256": base.sha256,
                            "after_sha256": stored.sha256, "filename": row.filename})
        await evidence.record("collection.timestamped", Actor.system(),
                              cabinet_id=collection.cabinet_id, collection_id=collection_id,
                              data={"documents": stamped})
        initiator = await Person.get(id=collection.created_by_id)
        report = await report_mod.build_report(svc, collection_id, initiator.language)
        until = await archive.lapses(svc, report.pdf)
        attachments = [{"sha256": s["after_sha256"], "filename": signed_name(s["filename"])}
                       for s in stamped]
        attachments.append({"sha256": hashlib.sha256(report.pdf).hexdigest(),
                            "filename": f"preuve-{collection_id}.pdf"})
        async with in_transaction():
            done = await Collection.filter(id=collection_id, finalized_at=None).update(
                finalized_at=clock.now())
            if done != 1:
                return False
            sealed = await report_mod.store(svc, collection, report, until)
            if sealed is None:
                return False
            extra = {"report_sha256": sealed["pdf_sha256"],
                     "report_json_sha256": sealed["json_sha256"],
                     "signed": [{"filename": a["filename"], "sha256": a["sha256"]}
                                for a in attachments[:-1]]}
            await notices.to_initiator(collection, "completed", key="completed",
                                       attachments=attachments, **extra)
            await notices.to_signers(svc, collection, "completed", key="completed",
                                     attachments=attachments, **extra)
    return True


async def finalize_pending(svc: Services, limit: int = 20) -> int:
    """Finalises completed collections a crash left unfinished; returns how many."""
    rows = await Collection.filter(state="completed", finalized_at=None).order_by("id").limit(limit)
    count = 0
    for collection in rows:
        if await finalize(svc, collection.id):
            count += 1
    return count
