"""API middlewares: every error as a problem document, bearer authentication, per-key rate limit."""

from __future__ import annotations

from aiohttp import web

from web import failures
from web.api.context import API_KEY, BASE
from web.api.ratelimit import ApiBuckets, TokenBuckets
from web.errors import ApiRateLimitedError
from web.problems import TITLES, from_error, problem
from workflows import apikeys, lookups
from workflows.errors import NotAMemberError, ParapheError

PUBLIC_PATHS = (f"{BASE}/openapi.json",)
BUCKETS = web.AppKey("api_buckets", ApiBuckets)


@web.middleware
async def problems(request: web.Request, handler):
    """Turns domain errors and aiohttp's HTTP errors into application/problem+json."""
    try:
        return await handler(request)
    except ParapheError as exc:
        return from_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "route_not_found", 405: "method_not_allowed",
                413: "document_too_large"}.get(exc.status, "http_error")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return problem(exc.status, code, exc.reason or TITLES.get(exc.status, "Error"),
                       headers=headers)
    except Exception as exc:  # Logged with its trace under an id; the client gets the id only.
        return from_error(failures.translate(request, exc))


@web.middleware
async def authenticate(request: web.Request, handler):
    """Bearer key -> request[API_KEY]; the person must still belong to the key's cabinet."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    key = await apikeys.authenticate(token)
    wait = await request.app[BUCKETS].take(key.id)
    if wait:
        exc = ApiRateLimitedError("too many requests with this API key; retry later",
                                  retry_after=TokenBuckets.retry_after(wait))
        return from_error(exc, headers={"Retry-After": TokenBuckets.retry_after(wait)})
    if await lookups.membership(key.person_id, key.cabinet_id) is None:
        raise NotAMemberError(f"{key.person.email} is no longer a member of {key.cabinet.slug}")
    request[API_KEY] = key
    return await handler(request)
