"""The REST API for accounting software, mounted at /api/v1 (resources live in web/api/)."""

from __future__ import annotations

from aiohttp import web

from web.api import cabinet, collections, openapi, seals
from web.api.context import BASE, SVC
from web.api.middleware import BUCKETS, authenticate, problems
from web.api.ratelimit import ApiBuckets, RateLimit
from workflows.services import Services


def build_api(svc: Services, *, rate_limit: RateLimit | None = None) -> web.Application:
    """The API sub-application: problem documents, bearer keys, a per-key token bucket."""
    api = web.Application(middlewares=[problems, authenticate],
                          client_max_size=8 * (svc.settings.max_document_bytes + 1024 * 1024))
    api[SVC] = svc
    buckets = api[BUCKETS] = ApiBuckets(rate_limit or RateLimit(), svc.settings.redis_url)

    async def close_buckets(_app: web.Application) -> None:
        await buckets.close()

    api.on_cleanup.append(close_buckets)
    for module in (openapi, seals, cabinet, collections):
        module.add(api.router)
    return api


def add_routes(app: web.Application, svc: Services, *, rate_limit: RateLimit | None = None) -> None:
    app.add_subapp(BASE, build_api(svc, rate_limit=rate_limit))
