"""The evidence report of a collection as stored by the core (JSON, or PDF by Accept) and its
JSON's .p7s."""

from __future__ import annotations

from aiohttp import web

from workflows.collections import evidence_report
from workflows.errors import DocumentNotFoundError
from workflows.services import Services


async def _report(svc: Services, collection, language: str | None = None):
    return await evidence_report(svc, collection.id, language)


async def evidence_response(request: web.Request, svc: Services, actor, collection) -> web.Response:
    """Answers with the sealed evidence report, its stored bytes as they are (the SHA-256
    printed in the PDF is that of these bytes); `?lang=en|fr` picks the certificate's
    language. Raises DocumentNotFoundError when there is none."""
    report = await _report(svc, collection, request.query.get("lang"))
    if "application/pdf" in request.headers.get("Accept", ""):
        if not report.pdf:
            raise DocumentNotFoundError("the certificate of evidence (PDF) is made when the "
                                        "collection ends; its JSON is available now")
        return web.Response(body=report.pdf, content_type="application/pdf",
                            headers={"X-Document-Sha256": report.pdf_sha256})
    return web.Response(body=report.json, content_type="application/json",
                        headers={"X-Document-Sha256": report.json_sha256})


async def signature_response(request: web.Request, svc: Services, actor,
                             collection) -> web.Response:
    """The detached CAdES signature (DER) of the report's JSON, by the platform's seal."""
    report = await _report(svc, collection)
    if not report.json_signature:
        raise DocumentNotFoundError("this evidence report has no detached signature")
    return web.Response(body=report.json_signature, content_type="application/pkcs7-signature",
                        headers={"Content-Disposition":
                                 f"attachment; filename=preuve-{collection.id}.json.p7s"})
