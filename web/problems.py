"""RFC 9457 problem documents: how the API answers a domain error (statuses from web/errors.py)."""

from __future__ import annotations

import json

from aiohttp import web

# The kind -> status table is web/errors.py's, shared with the HTML pages; this module only
# writes the API's problem documents.
from web.errors import status_of
from workflows.errors import ParapheError

PROBLEM_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 402: "Payment required", 403: "Forbidden",
          404: "Not found", 405: "Method not allowed", 406: "Not acceptable", 409: "Conflict",
          410: "Gone", 413: "Content too large", 415: "Unsupported media type",
          422: "Unprocessable content", 429: "Too many requests", 500: "Internal server error",
          503: "Service unavailable", 507: "Insufficient storage"}


def problem(status: int, code: str, detail: str, *, headers: dict | None = None,
            **extra) -> web.Response:
    """A problem document; `code` is the stable domain code clients switch on."""
    # A URN, not a URL: nothing to dereference, and clients switch on `code` anyway.
    body = {"type": f"urn:paraphe:problem:{code}", "title": TITLES.get(status, "Error"),
            "status": status, "code": code, "detail": detail, **extra}
    return web.Response(status=status, body=json.dumps(body, ensure_ascii=False, default=str),
                        content_type=PROBLEM_TYPE, headers=headers)


def from_error(exc: ParapheError, *, headers: dict | None = None) -> web.Response:
    """The problem document of a domain error, its details as extension members."""
    extra = {k: v for k, v in exc.details.items()
             if k not in ("type", "title", "status", "code", "detail")}
    status = status_of(exc)
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="paraphe"', **(headers or {})}
    return problem(status, exc.code, exc.message, headers=headers, **extra)
