"""Every request: an id its log lines carry (and its answer, in X-Request-Id), one access
line, and its latency in the metrics. The access line names the route's pattern, never the
path: a signer's or registrant's token is a secret and must not reach the logs."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from paraphe import logs, metrics

access = logging.getLogger("paraphe.web.access")
AREAS = {"s": "signer", "r": "registration", "c": "cabinet", "api": "api", "ca": "trust",
         "ocsp": "trust", "tsa": "trust"}


def area(path: str) -> str:
    """The part of the site a path belongs to, for the metrics' labels."""
    return AREAS.get(path.lstrip("/").split("/", 1)[0], "ops")


def route_of(request: web.Request) -> str:
    """The pattern of the matched route (`/s/{token}`), or "-" when none matched."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "-"


@web.middleware
async def requests(request: web.Request, handler):
    request_id = logs.new_id(request.headers.get("X-Request-Id"))
    started = time.perf_counter()
    status = 500
    with logs.scope(request_id):
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            exc.headers["X-Request-Id"] = request_id
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.REQUEST_SECONDS.labels(area(request.path), f"{status // 100}xx").observe(
                seconds)
            # The route is looked up only when the line is written.
            if access.isEnabledFor(logging.INFO):
                access.info("%s %s %s %.1f ms", request.method, route_of(request), status,
                            seconds * 1000)
    response.headers["X-Request-Id"] = request_id
    return response
