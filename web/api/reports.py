"""The evidence report of a collection, as the core's reports module builds it (JSON or PDF by Accept)."""

from __future__ import annotations

import importlib
import json

from aiohttp import web

from workflows.errors import DocumentNotFoundError


def _core():
    try:
        return importlib.import_module("workflows.reports")
    except ModuleNotFoundError as exc:
        if exc.name != "workflows.reports":
            raise
        return None


async def evidence_response(request: web.Request, svc, actor, collection) -> web.Response:
    """Answers with the sealed evidence report; raises DocumentNotFoundError when there is none."""
    reports = _core()
    build = getattr(reports, "evidence_report", None) if reports else None
    if build is None:
        raise DocumentNotFoundError("the evidence report of this collection is not available")
    report = await build(svc, collection.id)
    as_pdf = "application/pdf" in request.headers.get("Accept", "")
    pdf = getattr(report, "pdf", None)
    if as_pdf and pdf:
        return web.Response(body=pdf, content_type="application/pdf")
    data = getattr(report, "json", report)
    if isinstance(data, (bytes, str)):
        data = json.loads(data)
    return web.Response(body=json.dumps(data, ensure_ascii=False, default=str),
                        content_type="application/json")
