"""The aiohttp application: trust endpoints, health, metrics, signer and registration pages, API."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from web import (
    api_v1,
    client_address,
    failures,
    health,
    registration_pages,
    request_log,
    signer_links,
    telegram_webhook,
    trust_endpoints,
)
from web.cabinet import app as cabinet
from web.health import MetricsSource
from web.telegram_webhook import TelegramInbox
from workflows.services import Services


SERVICES = web.AppKey("services", object)


def build_app(svc: Services, *, metrics: Iterable[MetricsSource] = (),
              telegram: TelegramInbox | None = None) -> web.Application:
    """The app; `metrics` add lines to /metrics from other parts (the mail spool's, given by
    the runtime: web does not import the mail gateway); `telegram` receives the bot's
    updates in webhook mode."""
    proxies = svc.settings.trusted_proxy_networks
    app = web.Application(client_max_size=svc.settings.max_document_bytes + 1024 * 1024,
                          middlewares=[client_address.middleware(proxies),
                                       request_log.requests, failures.pages])
    app[SERVICES] = svc
    health.add_routes(app, svc, sources=tuple(metrics))
    trust_endpoints.add_trust_routes(app, svc.trust)
    signer_links.add_routes(app, svc)
    registration_pages.add_routes(app, svc)
    cabinet.add_routes(app, svc)
    api_v1.add_routes(app, svc)
    if telegram is not None:
        telegram_webhook.add_routes(app, telegram)
    return app


async def start_web(svc: Services, *, host: str | None = None, port: int | None = None,
                    metrics: Iterable[MetricsSource] = (),
                    telegram: TelegramInbox | None = None) -> web.AppRunner:
    """Serves the app on the running loop; returns the runner (its `addresses` give the port)."""
    runner = web.AppRunner(build_app(svc, metrics=metrics, telegram=telegram), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or svc.settings.web_host,
                       svc.settings.web_port if port is None else port)
    await site.start()
    return runner
