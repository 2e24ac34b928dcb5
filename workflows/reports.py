"""Evidence reports of a collection (JSON and readable PDF, both sealed by the platform) and its finalisation.

The JSON report holds every evidence event of the collection (times, channels, IP
addresses, user agents, document hashes, hash-chain links). The PDF report shows the
same in words, carries the JSON as an embedded file and is sealed (PAdES B-LT) with the
platform's own seal certificate; the JSON also gets a detached CMS signature by the same
certificate, so each file can be checked on its own.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import timedelta

from workflows import archive, clock, evidence
from workflows import collection_notices as notices
from workflows.actors import Actor
from workflows.models import (
    Cabinet,
    Certificate,
    Collection,
    CollectionDocument,
    Document,
    EvidenceEvent,
    Person,
    Signer,
)
from workflows.transactions import in_transaction

PLATFORM_NAME = "Paraphe"
RENEW_BEFORE = timedelta(days=30)
LINES_PER_PAGE = 62
LINE_WIDTH = 105


@dataclass(frozen=True)
class EvidenceReport:
    json: bytes
    pdf: bytes
    json_signature: bytes  # detached CMS (DER) over `json`
    json_sha256: str
    pdf_sha256: str


# --- the platform's seal ------------------------------------------------------------------

async def platform_seal_certificate(svc) -> Certificate:
    """The platform's own seal (O/CN "Paraphe", no cabinet), issued on first need."""
    return await svc.trust.platform_seal_certificate(PLATFORM_NAME)


# --- building -----------------------------------------------------------------------------

def _iso(value) -> str | None:
    return value.isoformat() if value else None


async def report_data(collection_id: int) -> dict:
    """The machine-readable report: the collection, its documents, signers and events."""
    collection = await Collection.get(id=collection_id)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    initiator = await Person.get(id=collection.created_by_id)
    docs = await (CollectionDocument.filter(collection_id=collection.id)
                  .prefetch_related("original", "current").order_by("position"))
    signers = await Signer.filter(collection_id=collection.id).order_by("position")
    events = await EvidenceEvent.filter(collection_id=collection.id).order_by("seq")
    return {
        "format": "paraphe-evidence-report/1",
        "generated_at": _iso(clock.now()),
        "collection": {
            "id": collection.id, "title": collection.title, "state": collection.state,
            "ordered": collection.ordered, "message": collection.message,
            "created_at": _iso(collection.created_at), "launched_at": _iso(collection.launched_at),
            "expires_at": _iso(collection.expires_at), "ended_at": _iso(collection.ended_at),
        },
        "cabinet": {"slug": cabinet.slug, "name": cabinet.name, "siren": cabinet.siren},
        "initiator": {"name": initiator.name, "email": initiator.email},
        "documents": [{
            "position": d.position, "filename": d.original.filename,
            "original_sha256": d.original.sha256,
            "final_sha256": (d.current or d.original).sha256,
            "final_size": (d.current or d.original).size,
        } for d in docs],
        "signers": [{
            "position": s.position, "name": s.name, "email": s.email, "phone": s.phone,
            "internal": s.person_id is not None, "state": s.state,
            "signed_at": _iso(s.signed_at), "declined_at": _iso(s.declined_at),
            "decline_reason": s.decline_reason, "certificate_serial": s.certificate_serial,
        } for s in signers],
        "events": [{
            "seq": e.seq, "at": _iso(e.at), "kind": e.kind, "channel": e.channel,
            "person_id": e.person_id, "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash,
        } for e in events],
    }


def _wrap(line: str) -> list[str]:
    out = []
    while len(line) > LINE_WIDTH:
        cut = line.rfind(" ", 0, LINE_WIDTH)
        cut = cut if cut > 20 else LINE_WIDTH
        out.append(line[:cut])
        line = "    " + line[cut:].lstrip()
    out.append(line)
    return out


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render_pdf(text: str, attachment: bytes, attachment_name: str) -> bytes:
    """A plain A4 PDF of the text (Helvetica, WinAnsi), with `attachment` embedded."""
    from pyhanko.pdf_utils import embed, generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
        pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding")}))
    lines = [w for line in text.splitlines() for w in _wrap(line)]
    pages = [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    for chunk in pages:
        body = [b"BT /F1 8 Tf 10 TL 40 800 Td"]
        body += [b"(" + _pdf_text(line) + b") '" for line in chunk]
        body.append(b"ET")
        stream = writer.add_object(generic.StreamObject(stream_data=b"\n".join(body)))
        resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
            {pdf_name("/F1"): font})})
        writer.insert_page(PageObject(contents=stream, media_box=(0, 0, 595, 842),
                                      resources=resources))
    embed.embed_file(writer, embed.FileSpec(
        file_spec_string=attachment_name, file_name=attachment_name,
        embedded_data=embed.EmbeddedFileObject.from_file_data(
            writer, attachment, mime_type="application/json"),
        description="Evidence report (JSON)"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def build_report(svc, collection_id: int, language: str = "fr") -> EvidenceReport:
    """Builds and seals both reports now (nothing stored)."""
    import asyncio

    from paraphe.templating import render
    from workflows.trust.signers import load_signer

    data = await report_data(collection_id)
    raw = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()
    json_sha256 = hashlib.sha256(raw).hexdigest()
    text = render("reports/collection/evidence", language, report=data, json_sha256=json_sha256)
    loop = asyncio.get_running_loop()
    pdf = await loop.run_in_executor(None, render_pdf, text, raw,
                                     f"evidence-{collection_id}.json")
    cert = await platform_seal_certificate(svc)
    key = await svc.trust.signing_key(cert)
    bundle = await svc.trust.validation_bundle([cert])
    sealed = await svc.engine.sign(pdf, key, reason="Rapport de preuve", name=PLATFORM_NAME,
                                   bundle=bundle, field_name="PlatformSeal")
    signer = load_signer(svc.settings, key)
    cms = await signer.async_sign_general_data(raw, "sha256", detached=True)
    return EvidenceReport(json=raw, pdf=sealed, json_signature=cms.dump(),
                          json_sha256=json_sha256,
                          pdf_sha256=hashlib.sha256(sealed).hexdigest())


async def evidence_report(svc, collection_id: int) -> EvidenceReport:
    """The stored report of a finalised collection, or one built (and sealed) now.

    Raises DocumentNotFoundError when the stored files are missing.
    """
    collection = await Collection.get(id=collection_id)
    if collection.report_json_id and collection.report_pdf_id:
        json_doc = await Document.get(id=collection.report_json_id)
        pdf_doc = await Document.get(id=collection.report_pdf_id)
        event = await EvidenceEvent.filter(collection_id=collection_id,
                                           kind="collection.report_sealed").first()
        signature = b""
        if event is not None and event.data.get("json_signature_sha256"):
            signature = await svc.documents.read(event.data["json_signature_sha256"])
        return EvidenceReport(json=await svc.documents.read(json_doc.sha256),
                              pdf=await svc.documents.read(pdf_doc.sha256),
                              json_signature=signature, json_sha256=json_doc.sha256,
                              pdf_sha256=pdf_doc.sha256)
    initiator = await Person.get(id=collection.created_by_id)
    return await build_report(svc, collection_id, initiator.language)


# --- finalisation -------------------------------------------------------------------------

async def finalize(svc, collection_id: int) -> bool:
    """Completes a completed collection: a document timestamp (B-LTA) on every document,
    the sealed reports stored, everyone mailed the signed copies. Idempotent; returns
    False when there was nothing to do. Raises TrustServiceError (a sweep retries)."""
    from workflows.signing import _locks

    collection = await Collection.get(id=collection_id)
    if collection.state != "completed" or collection.finalized_at is not None:
        return False
    async with _locks[collection_id]:
        collection = await Collection.get(id=collection_id)
        if collection.finalized_at is not None:
            return False
        from workflows.signing import deferred_bundle

        # The TSA chain's data, plus what each signer of a large collection left to write.
        bundle = await deferred_bundle(svc, collection_id)
        rows = await (CollectionDocument.filter(collection_id=collection_id)
                      .prefetch_related("original", "current").order_by("position"))
        stamped = []
        for row in rows:
            base = row.current or row.original
            data = await svc.documents.read(base.sha256)
            out = await svc.engine.timestamp(data, bundle)
            stored = await svc.documents.put(out, row.original.filename,
                                             archive_until=await archive.lapses(svc, out))
            moved = await CollectionDocument.filter(id=row.id, version=row.version).update(
                current_id=stored.id, version=row.version + 1)
            if moved == 1 and row.current is not None:
                from workflows.signing import _forget

                await _forget([row.current], svc)
            stamped.append({"position": row.position, "before_sha256": base.sha256,
                            "after_sha256": stored.sha256, "filename": row.original.filename})
        await evidence.record("collection.timestamped", Actor.system(),
                              cabinet_id=collection.cabinet_id, collection_id=collection_id,
                              data={"documents": stamped})
        initiator = await Person.get(id=collection.created_by_id)
        report = await build_report(svc, collection_id, initiator.language)
        json_doc = await svc.documents.put(report.json, f"preuve-{collection_id}.json")
        pdf_doc = await svc.documents.put(report.pdf, f"preuve-{collection_id}.pdf",
                                          archive_until=await archive.lapses(svc, report.pdf))
        cms_doc = await svc.documents.put(report.json_signature, f"preuve-{collection_id}.p7s")
        attachments = [{"sha256": s["after_sha256"], "filename": _signed_name(s["filename"])}
                       for s in stamped]
        attachments.append({"sha256": pdf_doc.sha256, "filename": f"preuve-{collection_id}.pdf"})
        async with in_transaction():
            done = await Collection.filter(id=collection_id, finalized_at=None).update(
                finalized_at=clock.now(), report_json_id=json_doc.id, report_pdf_id=pdf_doc.id)
            if done != 1:
                return False
            await evidence.record("collection.report_sealed", Actor.system(),
                                  cabinet_id=collection.cabinet_id, collection_id=collection_id,
                                  data={"json_sha256": json_doc.sha256,
                                        "pdf_sha256": pdf_doc.sha256,
                                        "json_signature_sha256": cms_doc.sha256})
            extra = {"report_sha256": pdf_doc.sha256, "report_json_sha256": json_doc.sha256,
                     "signed": [{"filename": a["filename"], "sha256": a["sha256"]}
                                for a in attachments[:-1]]}
            await notices.to_initiator(collection, "completed", key="completed",
                                       attachments=attachments, **extra)
            await notices.to_signers(svc, collection, "completed", key="completed",
                                     attachments=attachments, **extra)
    return True


def _signed_name(filename: str) -> str:
    stem = filename[:-4] if filename.lower().endswith(".pdf") else filename
    return f"{stem}-signe.pdf"


async def finalize_pending(svc, limit: int = 20) -> int:
    """Finalises completed collections a crash left unfinished; returns how many."""
    rows = await Collection.filter(state="completed", finalized_at=None).order_by("id").limit(limit)
    count = 0
    for collection in rows:
        if await finalize(svc, collection.id):
            count += 1
    return count
