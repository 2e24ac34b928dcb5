"""The certificate of evidence of a collection (JSON, and a sealed PDF/A-3).

The JSON report holds every evidence event of the collection with every field its hash
covers, so anyone can recompute the chain; the PDF (rendered from templates/reports with
WeasyPrint, in a worker process) says the same for a judge or an auditor, carries the JSON
as an associated file and is sealed with the platform's own seal certificate. The JSON
also gets a detached CMS signature by the same certificate. Reports are stored once; every
channel serves the stored bytes.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from babel.numbers import format_decimal

from workflows import anchors, archive, clock, dates, evidence
from workflows.actors import Actor
from workflows.errors import DocumentBrokenError, DocumentNotFoundError
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
from workflows.models.collections import ENDED
from workflows.pdf.html import AssociatedFile
from workflows.services import Services
from workflows.transactions import in_transaction
from workflows.trust.signers import load_signer


PLATFORM_NAME = "Paraphe"
RENEW_BEFORE = timedelta(days=30)
REPORT_FORMAT = "paraphe-evidence-report/2"
LANGUAGES = ("fr", "en")
# The printed appendix: hashed bodies cut in lines of this many characters.
APPENDIX_WIDTH = 92
# ...laid out in blocks of this many lines: WeasyPrint lays out the whole rest of a
# preformatted block for each of its lines (quadratic: the body of an event naming 1,000
# signers is 800 lines), and a block per line takes twice the time of a few lines together.
APPENDIX_BLOCK = 16
VISIBLE_SPACE = "\u2423"  # ␣: a space that survives copying from the printed page


@dataclass(frozen=True)
class EvidenceReport:
    json: bytes
    pdf: bytes
    json_signature: bytes  # detached CMS (DER) over `json`
    json_sha256: str
    pdf_sha256: str
    language: str | None = None  # of the PDF


# --- the platform's seal ------------------------------------------------------------------

async def platform_seal_certificate(svc: Services) -> Certificate:
    """The platform's own seal (O/CN "Paraphe", no cabinet), issued on first need."""
    return await svc.trust.platform_seal_certificate(PLATFORM_NAME)


# --- the machine-readable report ------------------------------------------------------------

def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _event_json(e: EvidenceEvent) -> dict:
    # Exactly the fields `evidence.event_hash` covers, in the form it hashes them, and the hash.
    return {"seq": e.seq, "at": evidence.timestamp_text(e.at), "kind": e.kind,
            "channel": e.channel, "cabinet_id": e.cabinet_id, "person_id": e.person_id,
            "collection_id": e.collection_id, "data": e.data, "prev_hash": e.prev_hash,
            "hash": e.hash}


async def _identification(signer: Signer, signed: dict | None) -> dict:
    """How the signer was identified: the channel of their one-time code, and whether they
    signed with a one-time certificate or their personal one (issued after an identity check)."""
    if not signed:
        return {"code_channel": None, "certificate": None}
    kind = signed.get("certificate_kind")
    if kind is None and signer.certificate_serial:
        cert = await Certificate.get_or_none(serial=signer.certificate_serial)
        kind = cert.kind if cert else None
    return {"code_channel": signed.get("code_channel"), "certificate": kind}


async def report_data(collection_id: int) -> dict:
    """The machine-readable report: the collection, its documents, signers and events, with
    what a third party needs to recompute the hash chain. Keys may be added, never changed."""
    collection = await Collection.get(id=collection_id)
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    initiator = await Person.get(id=collection.created_by_id)
    docs = await (CollectionDocument.filter(collection_id=collection.id)
                  .prefetch_related("original", "current").order_by("position"))
    signers = await Signer.filter(collection_id=collection.id).order_by("position")
    events = await EvidenceEvent.filter(collection_id=collection.id).order_by("seq")
    signed = {e.data.get("signer"): e.data for e in events if e.kind == "signer.signed"}
    person_ids = {e.person_id for e in events} | {e.data.get("actor") for e in events}
    person_ids |= {collection.created_by_id, collection.approved_by_id}
    people = await Person.filter(id__in=[i for i in person_ids if isinstance(i, int)] or [0])
    return {
        "format": REPORT_FORMAT,
        "generated_at": _iso(clock.now()),
        "collection": {
            "id": collection.id, "title": collection.title, "state": collection.state,
            "ordered": collection.ordered, "message": collection.message,
            "created_at": _iso(collection.created_at), "launched_at": _iso(collection.launched_at),
            "expires_at": _iso(collection.expires_at), "ended_at": _iso(collection.ended_at),
        },
        "cabinet": {"id": cabinet.id, "slug": cabinet.slug, "name": cabinet.name,
                    "siren": cabinet.siren},
        "initiator": {"id": initiator.id, "name": initiator.name, "email": initiator.email},
        "people": {str(p.id): {"name": p.name, "email": p.email}
                   for p in sorted(people, key=lambda p: p.id)},
        "documents": [{
            "position": d.position, "filename": d.filename,
            "original_sha256": d.original.sha256, "original_size": d.original.size,
            "final_sha256": (d.current or d.original).sha256,
            "final_size": (d.current or d.original).size,
        } for d in docs],
        "signers": [{
            "position": s.position, "name": s.name, "email": s.email, "phone": s.phone,
            "internal": s.person_id is not None, "person_id": s.person_id, "state": s.state,
            "signed_at": _iso(s.signed_at), "declined_at": _iso(s.declined_at),
            "decline_reason": s.decline_reason, "certificate_serial": s.certificate_serial,
            "identification": await _identification(s, signed.get(s.position)),
            "consent": (signed.get(s.position) or {}).get("consent_text") and {
                "text": signed[s.position]["consent_text"],
                "sha256": signed[s.position]["consent_sha256"]},
        } for s in signers],
        "timestamps": [],
        "events": [_event_json(e) for e in events],
        "chain": {
            "algorithm": "SHA-256",
            "hashed_fields": ["seq", "at", "kind", "channel", "cabinet_id", "person_id",
                              "collection_id", "data", "prev_hash"],
            "encoding": "JSON object of hashed_fields, keys sorted, separators ',' and ':' "
                        "without spaces, non-ASCII characters unescaped, UTF-8",
            "time_format": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ",
            "genesis": evidence.GENESIS,
        },
    }


async def add_timestamps(svc: Services, data: dict) -> None:
    """Lists the RFC 3161 timestamps of each final document (time, TSA) in `data`."""
    paths, positions = [], []
    for d in data["documents"]:
        try:
            path = await svc.documents.local_path(d["final_sha256"])
        except DocumentNotFoundError:
            continue
        paths.append(str(path))
        positions.append(d["position"])
    try:
        found = await svc.engine.timestamps(paths)
    except DocumentBrokenError:
        return
    data["timestamps"] = [{"document": position, **stamp}
                          for position, stamps in zip(positions, found, strict=True)
                          for stamp in stamps]


# --- the readable certificate ---------------------------------------------------------------

def printable_json(value) -> str:
    """The canonical JSON of `value` with nothing a printed page can lose: spaces shown as ␣
    (a real ␣ escaped as \\u2423), other blanks and invisible characters as \\uXXXX escapes.
    Parsing it after turning ␣ back into spaces gives `value` again."""
    text = evidence.canonical(value).decode("utf-8")
    if text.isprintable() and VISIBLE_SPACE not in text:
        # Nothing but spaces to show (isprintable: no character of categories C and Z
        # but the space), as for almost every event: no loop over its characters.
        return text.replace(" ", VISIBLE_SPACE)
    out = []
    for ch in text:
        if ch == " ":
            out.append(VISIBLE_SPACE)
        elif ch == VISIBLE_SPACE or ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            # JSON escapes a character beyond the BMP as its UTF-16 surrogate pair.
            units = ch.encode("utf-16-be")
            out.extend(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
        else:
            out.append(ch)
    return "".join(out)


def appendix_lines(event: dict, width: int = APPENDIX_WIDTH) -> list[str]:
    """The hashed body of one report event, printable, cut in lines of `width` characters."""
    body = {name: event[name] for name in ("seq", "at", "kind", "channel", "cabinet_id",
                                           "person_id", "collection_id", "data", "prev_hash")}
    text = printable_json(body)
    return [text[i:i + width] for i in range(0, len(text), width)]


def timeline(data: dict) -> list[dict]:
    """The events as the certificate lists them: one line per signer for a batch of invitations."""
    rows = []
    people = data.get("people", {})
    signers = {s["position"]: s for s in data.get("signers", [])}
    for e in data["events"]:
        d = e["data"] if isinstance(e["data"], dict) else {}
        origin = d.get("origin") or {}
        actor = people.get(str(d.get("actor"))) or {}
        base = {"seq": e["seq"], "at": e["at"], "kind": e["kind"], "channel": e["channel"],
                "actor": actor.get("name", ""), "ip": origin.get("ip", ""),
                "user_agent": origin.get("user_agent", ""), "data": d}
        if e["kind"] == "signer.invited":
            for s in d.get("signers", []):
                rows.append({**base, "signer": s.get("name", ""), "email": s.get("email", "")})
        else:
            # Events that name the signer by position only (a code sent) get the name too.
            known = signers.get(d.get("signer")) if isinstance(d.get("signer"), int) else None
            rows.append({**base, "signer": d.get("name") or (known or {}).get("name", ""),
                         "email": d.get("email") or (known or {}).get("email", "")})
    return rows


def render_certificate(svc: Services, data: dict, json_sha256: str, language: str,
                       zone: str) -> str:
    """The certificate's HTML from templates/reports/collection/certificate."""
    return svc.templates.render_html(
        "reports/collection/certificate", language, report=data, json_sha256=json_sha256,
        timeline=timeline(data), lang=language, zone=zone, appendix_block=APPENDIX_BLOCK,
        appendix=[{"seq": e["seq"], "hash": e["hash"], "lines": appendix_lines(e)}
                  for e in data["events"]],
        local=lambda value, pattern: dates.local(value, pattern, language, zone),
        utc=dates.utc, number=lambda value: format_decimal(value or 0, locale=language))


def _text(svc: Services, path: str, language: str, **context) -> str:
    return svc.templates.render(path, language, **context).strip()


async def _report_json(svc: Services, collection_id: int, *, anchored: bool = False
                       ) -> tuple[dict, bytes]:
    data = await report_data(collection_id)
    await add_timestamps(svc, data)
    if anchored:
        # The chain head now (at completion, when finalising), sealed by the TSA: a witness
        # of the evidence log that leaves the platform with the report.
        data["evidence_chain"] = await anchors.head_for_report(svc)
    return data, json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()


async def _sign_json(svc: Services, key, raw: bytes) -> bytes:

    cms = await load_signer(svc.settings, key).async_sign_general_data(raw, "sha256",
                                                                        detached=True)
    return cms.dump()


async def build_snapshot(svc: Services, collection_id: int) -> EvidenceReport:
    """The JSON report of a collection under way, with its detached signature: no PDF,
    whose rendering is kept for the end of the collection."""
    _data, raw = await _report_json(svc, collection_id)
    key = await svc.trust.signing_key(await platform_seal_certificate(svc))
    return EvidenceReport(json=raw, pdf=b"", json_signature=await _sign_json(svc, key, raw),
                          json_sha256=hashlib.sha256(raw).hexdigest(), pdf_sha256="")


async def _certificate(svc: Services, data: dict, raw: bytes, language: str) -> bytes:
    """The certificate's PDF/A-3 for `data` (whose JSON is `raw`, attached), sealed."""

    collection_id = data["collection"]["id"]
    zone = getattr(svc.settings, "timezone", "Europe/Paris")
    html = render_certificate(svc, data, hashlib.sha256(raw).hexdigest(), language, zone)
    attachment = AssociatedFile(
        f"preuve-{collection_id}.json", raw,
        _text(svc, "reports/collection/json_description", language,
              collection_id=collection_id))
    pdf = await svc.engine.render_pdfa(
        html, (attachment,),
        title=_text(svc, "reports/collection/title", language, collection_id=collection_id))
    cert = await platform_seal_certificate(svc)
    key = await svc.trust.signing_key(cert)
    bundle = await svc.trust.validation_bundle([cert])
    return await svc.engine.sign(pdf, key, reason=_text(svc, "reports/collection/seal_reason",
                                                        language),
                                 name=PLATFORM_NAME, bundle=bundle, field_name="PlatformSeal")


async def build_report(svc: Services, collection_id: int, language: str = "fr") -> EvidenceReport:
    """Builds and seals both reports now (nothing stored)."""
    data, raw = await _report_json(svc, collection_id, anchored=True)
    sealed = await _certificate(svc, data, raw, language)
    key = await svc.trust.signing_key(await platform_seal_certificate(svc))
    return EvidenceReport(json=raw, pdf=sealed, json_signature=await _sign_json(svc, key, raw),
                          json_sha256=hashlib.sha256(raw).hexdigest(),
                          pdf_sha256=hashlib.sha256(sealed).hexdigest(), language=language)


async def _stored(svc: Services, collection: Collection) -> EvidenceReport | None:
    if not (collection.report_json_id and collection.report_pdf_id):
        return None
    json_doc = await Document.get(id=collection.report_json_id)
    pdf_doc = await Document.get(id=collection.report_pdf_id)
    event = await EvidenceEvent.filter(collection_id=collection.id,
                                       kind="collection.report_sealed").first()
    signature = b""
    if event is not None and event.data.get("json_signature_sha256"):
        signature = await svc.documents.read(event.data["json_signature_sha256"])
    return EvidenceReport(json=await svc.documents.read(json_doc.sha256),
                          pdf=await svc.documents.read(pdf_doc.sha256),
                          json_signature=signature, json_sha256=json_doc.sha256,
                          pdf_sha256=pdf_doc.sha256,
                          language=event.data.get("language") if event is not None else None)


async def store(svc: Services, collection: Collection, report: EvidenceReport,
                 archive_until) -> dict | None:
    """Inside a transaction: keeps the report's three files once for the collection and
    records it; None when another process stored one first. `archive_until`: when the
    sealed PDF's archive timestamp lapses (archive.lapses, read before the transaction)."""
    json_doc = await svc.documents.put(report.json)
    pdf_doc = await svc.documents.put(report.pdf, archive_until=archive_until)
    cms_doc = await svc.documents.put(report.json_signature)
    done = await Collection.filter(id=collection.id, report_json_id=None).update(
        report_json_id=json_doc.id, report_pdf_id=pdf_doc.id)
    if done != 1:
        return None
    sealed = {"json_sha256": json_doc.sha256, "pdf_sha256": pdf_doc.sha256,
              "json_signature_sha256": cms_doc.sha256, "language": report.language}
    await evidence.record("collection.report_sealed", Actor.system(),
                          cabinet_id=collection.cabinet_id, collection_id=collection.id,
                          data=sealed)
    return sealed


async def evidence_report(svc: Services, collection_id: int, language: str | None = None
                          ) -> EvidenceReport:
    """The stored report of a collection, or one built (and sealed) now.

    The report of a collection that ended without completing is stored at the first
    request, so every later one gets the same bytes; a collection under way (or completed
    and not yet finalised) gets a fresh JSON snapshot without PDF (`pdf` is empty). The
    certificate is in the initiator's language; asked in the other one, it is rendered
    once from the stored JSON (the same bytes, attached) and kept. Raises
    DocumentNotFoundError when the stored files are missing.
    """
    collection = await Collection.get(id=collection_id)
    found = await _stored(svc, collection)
    if found is not None:
        if language in LANGUAGES and found.language and language != found.language:
            return await _in_language(svc, collection, found, language)
        return found
    if collection.state not in ENDED or collection.state == "completed":
        return await build_snapshot(svc, collection_id)
    initiator = await Person.get(id=collection.created_by_id)
    report = await build_report(svc, collection_id, initiator.language)
    until = await archive.lapses(svc, report.pdf)
    async with in_transaction():
        stored = await store(svc, collection, report, until)
    if stored is None:
        return await _stored(svc, await Collection.get(id=collection_id))
    return report


async def _in_language(svc: Services, collection: Collection, report: EvidenceReport,
                       language: str) -> EvidenceReport:
    """The stored report with its certificate in `language`, rendered on first request."""
    kept = [e for e in await EvidenceEvent.filter(collection_id=collection.id,
                                                  kind="collection.report_translated")
            if e.data.get("language") == language]
    if kept:
        pdf = await svc.documents.read(kept[0].data["pdf_sha256"])
    else:
        pdf = await _certificate(svc, json.loads(report.json), report.json, language)
        doc = await svc.documents.put(pdf, archive_until=await archive.lapses(svc, pdf))
        await evidence.record("collection.report_translated", Actor.system(),
                              cabinet_id=collection.cabinet_id, collection_id=collection.id,
                              data={"language": language, "pdf_sha256": doc.sha256,
                                    "json_sha256": report.json_sha256})
    return EvidenceReport(json=report.json, pdf=pdf, json_signature=report.json_signature,
                          json_sha256=report.json_sha256,
                          pdf_sha256=hashlib.sha256(pdf).hexdigest(), language=language)
