"""Collections through the API: create, list, read, launch, cancel, remind, download.

Every handler calls the same core functions as mail and chat (workflows.collections);
a collection of another cabinet is "not found", never "forbidden".
"""

from __future__ import annotations

import base64
from datetime import datetime, UTC
from urllib.parse import quote

from aiohttp import web

from web import json_input
from web.api import reports
from web.api.context import (
    authorize,
    bad_request,
    idempotent,
    json_response,
    read_form,
    services,
)
from web.api.seals import core_key
from workflows import errors
from workflows.delivery_state import invitation_delivery
from workflows.collections import (
    SignerSpec,
    approve_collection,
    cabinet_collections,
    cancel_collection,
    create_collection,
    remind_collection,
    served,
)
from workflows.models import Collection, CollectionDocument
from workflows.models.collections import STATES
from workflows.services import Services


MAX_LIMIT = 100


def _not_found(collection_id) -> errors.ParapheError:
    cls = getattr(errors, "CollectionNotFoundError", errors.DocumentNotFoundError)
    return cls(f"no collection {collection_id}", collection_id=collection_id)


def _small_int(raw: str) -> bool:
    # Ids are 32-bit columns: a larger number names nothing (and PostgreSQL would refuse it).
    return raw.isascii() and raw.isdigit() and int(raw) < 2 ** 31


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def _owned(request: web.Request, key) -> Collection:
    raw = request.match_info["id"]
    if not _small_int(raw):
        raise _not_found(raw)
    collection = await Collection.get_or_none(id=int(raw), cabinet_id=key.cabinet_id)
    if collection is None:
        raise _not_found(raw)
    return collection


async def serialize(collection: Collection, *, cabinet_slug: str) -> dict:
    docs = await (CollectionDocument.filter(collection_id=collection.id)
                  .select_related("original", "current").order_by("position"))
    signers = await collection.signers.all().order_by("position")
    delivery = await invitation_delivery(signers)
    base = f"/api/v1/collections/{collection.id}"
    return {
        "id": collection.id, "cabinet": cabinet_slug, "state": collection.state,
        "title": collection.title, "message": collection.message, "ordered": collection.ordered,
        "expiry_days": collection.expiry_days, "created_at": _iso(collection.created_at),
        "launched_at": _iso(collection.launched_at), "expires_at": _iso(collection.expires_at),
        "ended_at": _iso(collection.ended_at),
        "documents": [{
            "position": d.position, "filename": d.filename,
            "original_sha256": d.original.sha256,
            "current_sha256": d.current.sha256 if d.current else None,
            "download": f"{base}/documents/{d.position}",
        } for d in docs],
        "signers": [{
            "position": s.position, "name": s.name, "email": s.email, "state": s.state,
            "internal": s.person_id is not None, "signed_at": _iso(s.signed_at),
            "declined_at": _iso(s.declined_at), "decline_reason": s.decline_reason,
            "invitation": delivery[s.id],
            # Set while the signer's address is failing (a bounce, a relay's refusal).
            "delivery_failed_at": _iso(s.delivery_failed_at),
            "delivery_failure": s.delivery_failure,
        } for s in signers],
        "evidence_report": f"{base}/evidence",
        "evidence_signature": f"{base}/evidence.p7s",
    }


def _signers(raw: str | None):
    try:
        items = json_input.loads(raw or "", "signers")
    except errors.ApiRequestInvalidError:
        raise bad_request('signers: a JSON list such as [{"name": "…", "email": "…"}]',
                          field="signers") from None
    if not isinstance(items, list) or not items:
        raise bad_request("signers: a non-empty JSON list of {name, email, phone?}")
    specs = []
    for item in items:
        if (not isinstance(item, dict) or not isinstance(item.get("email"), str)
                or not isinstance(item.get("name", ""), str)
                or not isinstance(item.get("phone") or "", str)):
            raise bad_request("each signer needs a name and an email (strings)")
        specs.append(SignerSpec(item.get("name") or item["email"], item["email"],
                                item.get("phone") or None))
    return specs


def _bool(value: str | None) -> bool:
    if value in (None, "", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise bad_request("ordered: true or false")


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise bad_request(f"{name}: a whole number from {low} to {high}")
    return int(value)


async def create(request: web.Request) -> web.Response:
    key, actor = authorize(request, "collect")
    svc = services(request)
    form = await read_form(request, 8 * (svc.settings.max_document_bytes + 64 * 1024))
    documents = [(name or "document.pdf", data) for field, name, data in form.files
                 if field in ("file", "document", "documents")]
    if not documents:
        raise errors.DocumentMissingError("attach the PDFs in parts named 'file'")
    signers = _signers(form.text("signers"))
    ordered = _bool(form.text("ordered"))
    expiry = _int(form.text("expiry_days"), "expiry_days", 15, 1, 365)
    title, message = form.text("title") or "", form.text("message") or ""

    idem = request.headers.get("Idempotency-Key")

    async def run() -> web.Response:
        # The core's key too: a retry that takes over the claim of a crashed request gets
        # the collection that request created, not a second one.
        collection = await create_collection(
            svc, actor, cabinet=key.cabinet.slug, documents=documents, signers=signers,
            ordered=ordered, title=title, message=message, expiry_days=expiry,
            idempotency_key=core_key(key.id, idem))
        body = await serialize(collection, cabinet_slug=key.cabinet.slug)
        return json_response(body, status=201,
                             headers={"Location": f"/api/v1/collections/{collection.id}"})

    return await idempotent(request, form.digest(), run)


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name}: an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        decoded = base64.urlsafe_b64decode(value.encode() + b"==").decode()
        value = int(decoded.removeprefix("c:"))
        if not 0 < value < 2 ** 31:
            raise ValueError(value)
        return value
    except (ValueError, UnicodeDecodeError):
        raise bad_request("cursor: use the next_cursor of a previous page") from None


async def list_(request: web.Request) -> web.Response:
    key, _ = authorize(request, "read")
    q = request.query
    state = q.get("state") or None
    if state is not None and state not in STATES:
        raise bad_request(f"state: one of {', '.join(STATES)}")
    limit = _int(q.get("limit"), "limit", 20, 1, MAX_LIMIT)
    rows = await cabinet_collections(
        key.cabinet_id, state=state,
        created_after=_date(q.get("created_after"), "created_after"),
        created_before=_date(q.get("created_before"), "created_before"),
        before_id=_cursor(q.get("cursor")), limit=limit + 1)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = base64.urlsafe_b64encode(f"c:{page[-1].id}".encode()).decode().rstrip("=")
    items = [await serialize(c, cabinet_slug=key.cabinet.slug) for c in page]
    return json_response({"items": items, "next_cursor": next_cursor})


async def read(request: web.Request) -> web.Response:
    key, _ = authorize(request, "read")
    collection = await _owned(request, key)
    return json_response(await serialize(collection, cabinet_slug=key.cabinet.slug))


def _action(scope: str, call):
    async def handler(request: web.Request) -> web.Response:
        key, actor = authorize(request, scope)
        collection = await _owned(request, key)

        async def run() -> web.Response:
            extra = await call(services(request), actor, collection.id)
            fresh = await Collection.get(id=collection.id)
            body = await serialize(fresh, cabinet_slug=key.cabinet.slug)
            if isinstance(extra, int) and not isinstance(extra, bool):
                body["reminded"] = extra
            return json_response(body)

        return await idempotent(request, f"{request.path}:{collection.id}", run)
    return handler


async def _launch(svc: Services, actor, collection_id):
    await approve_collection(svc, actor, collection_id)


async def _cancel(svc: Services, actor, collection_id):
    await cancel_collection(svc, actor, collection_id)


async def _remind(svc: Services, actor, collection_id) -> int:
    return await remind_collection(svc, actor, collection_id)


async def document(request: web.Request) -> web.Response:
    key, _ = authorize(request, "read")
    collection = await _owned(request, key)
    position = request.match_info["position"]
    doc = None
    if _small_int(position):
        doc = await CollectionDocument.get_or_none(
            collection_id=collection.id, position=int(position)).prefetch_related(
                "original", "current")
    if doc is None:
        raise errors.DocumentNotFoundError(f"no document {position} in this collection")
    # The signer pages' rule (workflows/collections/view.py): the original until the
    # collection is completed and finalised, then the signed copy.
    shown = served(collection, doc)
    data = await services(request).documents.read(shown.document.sha256)
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(shown.filename)}",
        "X-Document-Sha256": shown.document.sha256})


async def evidence_report(request: web.Request) -> web.Response:
    key, actor = authorize(request, "read")
    collection = await _owned(request, key)
    return await reports.evidence_response(request, services(request), actor, collection)


async def evidence_signature(request: web.Request) -> web.Response:
    key, actor = authorize(request, "read")
    collection = await _owned(request, key)
    return await reports.signature_response(request, services(request), actor, collection)


def add(router: web.UrlDispatcher) -> None:
    router.add_post("/collections", create)
    router.add_get("/collections", list_)
    router.add_get("/collections/{id}", read)
    router.add_post("/collections/{id}/launch", _action("collect", _launch))
    router.add_post("/collections/{id}/cancel", _action("collect", _cancel))
    router.add_post("/collections/{id}/remind", _action("collect", _remind))
    router.add_get("/collections/{id}/documents/{position}", document)
    router.add_get("/collections/{id}/evidence", evidence_report)
    router.add_get("/collections/{id}/evidence.p7s", evidence_signature)
