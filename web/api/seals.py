"""`POST /api/v1/seals` (seal a PDF), `GET /api/v1/credit`, `POST /api/v1/verify`."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from urllib.parse import quote

from aiohttp import web

from web.api.context import (
    authorize,
    bad_request,
    idempotent,
    json_response,
    read_form,
    services,
)
from workflows import billing
from workflows.errors import DocumentMissingError
from workflows.sealing import seal_document
from workflows.verification import verify_document

PDF = "application/pdf"


def wants_pdf(request: web.Request) -> bool:
    """True when the client prefers a PDF to JSON (``Accept: application/pdf``)."""
    accept = request.headers.get("Accept", "")
    return PDF in accept and "application/json" not in accept.split(PDF)[0]


def core_key(key_id: int, idem: str | None) -> str | None:
    """The core's idempotency key: per API key, hashed so that any client key fits the column."""
    if not idem:
        return None
    return f"api:{key_id}:{hashlib.sha256(idem.encode('utf-8', 'replace')).hexdigest()}"


def _one_pdf(form) -> tuple[str, bytes]:
    files = [f for f in form.files if f[0] in ("file", "document")]
    if not files:
        raise DocumentMissingError("send the PDF in a multipart part named 'file'")
    if len(files) > 1:
        raise bad_request("send one PDF per request in the part named 'file'")
    return files[0][1] or "document.pdf", files[0][2]


async def create_seal(request: web.Request) -> web.Response:
    key, actor = authorize(request, "seal")
    svc = services(request)
    form = await read_form(request, svc.settings.max_document_bytes + 64 * 1024)
    filename, data = _one_pdf(form)
    as_pdf = wants_pdf(request)
    idem = request.headers.get("Idempotency-Key")

    async def run() -> web.Response:
        result = await seal_document(
            svc, actor, cabinet=key.cabinet.slug, filename=filename, data=data,
            idempotency_key=core_key(key.id, idem))
        headers = {"X-Document-Sha256": result.sha256,
                   "X-Credit-Left": str(result.credit_left)}
        if as_pdf:
            headers["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(result.filename)}")
            return web.Response(status=201, body=await svc.documents.read(result.sha256),
                                content_type=PDF, headers=headers)
        body = {k: v for k, v in asdict(result).items() if k != "replayed"}
        return json_response(body, status=201, headers=headers)

    return await idempotent(request, form.digest(extra="pdf" if as_pdf else "json"), run)


async def get_credit(request: web.Request) -> web.Response:
    key, _ = authorize(request, "read")
    return json_response(asdict(await billing.summary(key.cabinet)))


async def verify(request: web.Request) -> web.Response:
    authorize(request, "read")
    svc = services(request)
    form = await read_form(request, svc.settings.max_document_bytes + 64 * 1024)
    filename, data = _one_pdf(form)

    async def run() -> web.Response:
        return json_response(await verify_document(svc, data, filename))

    # Verifying changes nothing, but the POST still honours Idempotency-Key like every other.
    return await idempotent(request, form.digest(), run)


def add(router: web.UrlDispatcher) -> None:
    router.add_post("/seals", create_seal)
    router.add_get("/credit", get_credit)
    router.add_post("/verify", verify)
