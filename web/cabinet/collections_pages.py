"""A cabinet's collections in the cabinet space: the list by state, each with its signers
and where each stands, approve / reject with a reason / cancel / remind, and the
downloads (the documents — signed copies once completed — and the evidence certificate).

An expert sees the cabinet's collections; a collaborator those they started and those
awaiting their approval. Every action
is the core's use case, which checks the member's delegation (`launch` to approve or reject)
as it does for mail, chat and the API.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from web.cabinet import render
from web.cabinet.signin import actor, required
from workflows import collections, delivery_state, people
from workflows.errors import CollectionNotFoundError, DocumentNotFoundError, ParapheError
from workflows.models import CollectionDocument
from workflows.models.collections import STATES
from workflows.services import Services

SERVICES = web.AppKey("cabinet_collections_services", object)
SLUG = "{slug:[a-z0-9][a-z0-9-]{1,62}}"
ID = r"{id:\d{1,12}}"
DONE = ("approve", "reject", "cancel", "remind")


def _svc(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _visible(request: web.Request):
    """The member, their membership and the collections they see here (their own for a
    collaborator), filtered by ?state=."""
    current = await required(request)
    membership = await people.acting_membership(current.person_id, request.match_info["slug"])
    state = request.query.get("state") or None
    rows = await collections.list_collections(actor(request, current), state=state,
                                              cabinet=membership.cabinet.slug)
    rows = await collections.member_sees(current.person, membership, rows)
    return current, membership, state, rows


async def list_page(request: web.Request) -> web.Response:
    try:
        current, membership, state, rows = await _visible(request)
        signers = {c.id: await collections.signers_of(c) for c in rows}
        delivery = await delivery_state.invitation_delivery(
            [s for group in signers.values() for s in group])
        documents = {c.id: await CollectionDocument.filter(collection_id=c.id).order_by(
            "position") for c in rows}
    except ParapheError as exc:
        return await render.error(request, exc)
    return await render.page(
        request, "collections", cabinet=membership.cabinet, membership=membership,
        collections=list(reversed(rows)), signers=signers, documents=documents, state=state,
        states=STATES, delivery=delivery,
        done=request.query.get("done") if request.query.get("done") in DONE else None)


async def _one(request: web.Request):
    current = await required(request)
    membership = await people.acting_membership(current.person_id, request.match_info["slug"])
    collection = await collections.get_collection(actor(request, current),
                                                  int(request.match_info["id"]))
    if collection.cabinet_id != membership.cabinet_id or (
            membership.role != "expert" and collection.created_by_id != current.person_id
            and collection.id not in {c.id for c in await collections.pending_approvals(
                current.person)}):
        raise CollectionNotFoundError(
            f"no collection {collection.id}", collection_id=collection.id)
    return current, collection


async def act(request: web.Request) -> web.Response:
    what, svc = request.match_info["action"], _svc(request)
    try:
        form = await render.posted(request)
        current, collection = await _one(request)
        who = actor(request, current)
        if what == "approve":
            await collections.approve_collection(svc, who, collection.id)
        elif what == "reject":
            await collections.reject_collection(svc, who, collection.id,
                                                str(form.get("reason", "")))
        elif what == "cancel":
            await collections.cancel_collection(svc, who, collection.id)
        else:
            await collections.remind_collection(svc, who, collection.id)
    except ParapheError as exc:
        return await render.error(request, exc)
    raise web.HTTPSeeOther(f"/c/{request.match_info['slug']}/collections?done={what}")


async def evidence(request: web.Request) -> web.Response:
    """The evidence certificate (PDF), made when the collection ends."""
    try:
        _, collection = await _one(request)
        report = await collections.evidence_report(_svc(request), collection.id,
                                                   await render.lang(request))
        if not report.pdf:
            raise DocumentNotFoundError("the certificate of evidence is made when the "
                                        "collection ends")
    except ParapheError as exc:
        return await render.error(request, exc)
    return web.Response(body=report.pdf, content_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=preuve-{collection.id}.pdf",
        "X-Document-Sha256": report.pdf_sha256, "Cache-Control": "no-store"})


async def document(request: web.Request) -> web.Response:
    """One document: the original while under way, the signed copy once completed."""
    try:
        _, collection = await _one(request)
        row = await CollectionDocument.get_or_none(
            collection_id=collection.id, position=int(request.match_info["position"])
        ).prefetch_related("original", "current")
        if row is None:
            raise DocumentNotFoundError("no such document in this collection")
        shown = collections.served(collection, row)
        data = await _svc(request).documents.read(shown.document.sha256)
    except ParapheError as exc:
        return await render.error(request, exc)
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(shown.filename)}",
        "X-Document-Sha256": shown.document.sha256, "Cache-Control": "no-store"})


def add_routes(app: web.Application, svc: Services) -> None:
    app[SERVICES] = svc
    base = f"/c/{SLUG}/collections"
    app.router.add_get(base, list_page)
    app.router.add_post(f"{base}/{ID}/{{action:approve|reject|cancel|remind}}", act)
    app.router.add_get(f"{base}/{ID}/evidence.pdf", evidence)
    app.router.add_get(rf"{base}/{ID}/documents/{{position:\d{{1,4}}}}", document)
