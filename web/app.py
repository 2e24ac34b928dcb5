"""The aiohttp application: trust endpoints, health, metrics (signer pages and API join later)."""

from __future__ import annotations

import importlib

from aiohttp import web

from web import failures, health

SERVICES = web.AppKey("services", object)

# Route modules that join the app as their issues land; each has add_routes(app, svc).
ROUTE_MODULES = ("web.trust_endpoints", "web.signer_links", "web.registration_pages",
                 "web.api_v1")


def build_app(svc) -> web.Application:
    app = web.Application(client_max_size=svc.settings.max_document_bytes + 1024 * 1024,
                          middlewares=[failures.pages])
    app[SERVICES] = svc
    health.add_routes(app, svc)
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        if hasattr(module, "add_routes"):
            module.add_routes(app, svc)
        elif hasattr(module, "add_trust_routes"):
            module.add_trust_routes(app, svc.trust)
    return app


async def start_web(svc, *, host: str | None = None, port: int | None = None) -> web.AppRunner:
    """Serves the app on the running loop; returns the runner (its `addresses` give the port)."""
    runner = web.AppRunner(build_app(svc), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or svc.settings.web_host,
                       svc.settings.web_port if port is None else port)
    await site.start()
    return runner
