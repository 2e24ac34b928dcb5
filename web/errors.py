"""The ONE place mapping domain error kinds to HTTP statuses and error pages of the web."""

from __future__ import annotations

from aiohttp import web

from paraphe.templating import LANGUAGES, render_html
from workflows.errors import ParapheError

# The web's own errors (pages, API, JSON bodies), in the core's family so KIND_STATUS and the
# error pages and problem documents treat them like the others.

class ApiRateLimitedError(ParapheError):
    """Too many requests with this API key; retry later."""
    code, kind = "rate_limited", "rate_limited"


class CrossSiteRequestError(ParapheError):
    """A form of the site was posted from another site."""
    code, kind = "cross_site_request", "forbidden"


class JsonTooLargeError(ParapheError):
    """This JSON is too big."""
    code, kind = "json_too_large", "too_large"


class JsonTooDeepError(ParapheError):
    """This JSON nests too deeply."""
    code = "json_too_deep"


# Domain error kind -> HTTP status (workflows/errors.py lists the kinds).
KIND_STATUS = {
    "invalid": 422,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "gone": 410,
    "payment": 402,
    "too_large": 413,
    "unsupported_type": 415,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
    "insufficient_storage": 507,
}
# Pages carry a secret token in their URL: never let it leak to another site or a cache.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'self'; object-src 'self'",
}


def status_of(exc: ParapheError) -> int:
    return KIND_STATUS.get(exc.kind, 422)


def language_of(request: web.Request, preferred: str | None = None) -> str:
    """?lang= first, then the person's language, then the browser's, then French."""
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    if preferred in LANGUAGES:
        return preferred
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip()[:2].lower()
        if tag in LANGUAGES:
            return tag
    return "fr"


def headers_for(exc: ParapheError) -> dict:
    headers = dict(PAGE_HEADERS)
    if exc.kind == "rate_limited" and exc.details.get("retry_after"):
        headers["Retry-After"] = str(exc.details["retry_after"])
    return headers


def error_page(request: web.Request, exc: ParapheError, *, language: str | None = None,
               template: str = "web/signer/error") -> web.Response:
    """The page saying what happened, with the status of the error's kind (`template`: the
    error page of the site the request is on, which words its codes)."""
    status = status_of(exc)
    body = render_html(template, language_of(request, language), status=status,
                       code=exc.code, details=exc.details,
                       lang=language_of(request, language))
    return web.Response(status=status, text=body, content_type="text/html",
                        headers=headers_for(exc))
