"""`/healthz` and `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from tortoise import connections

from workflows.models import Cabinet, EvidenceEvent, Notification
from workflows.ports import CoreSettings
from workflows.services import Services


# A part's own gauges for /metrics, from the settings: Prometheus text lines. Run in a
# thread, since they may read files (the mail spool's, mail_gateway.metrics).
MetricsSource = Callable[[CoreSettings], list[str]]


def add_routes(app: web.Application, svc: Services, *, sources: tuple[MetricsSource,
               ...] = ()) -> None:
    async def healthz(request: web.Request) -> web.Response:
        try:
            await connections.get("default").execute_query("SELECT 1")
        except Exception as exc:  # Any database failure makes the service unhealthy.
            return web.json_response({"status": "error", "database": type(exc).__name__},
                                     status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        lines = [
            "# TYPE paraphe_cabinets gauge",
            f"paraphe_cabinets {await Cabinet.all().count()}",
            "# TYPE paraphe_evidence_events gauge",
            f"paraphe_evidence_events {await EvidenceEvent.all().count()}",
            "# TYPE paraphe_notifications gauge",
        ]
        for state in ("pending", "sending", "sent", "failed"):
            count = await Notification.filter(state=state).count()
            lines.append(f'paraphe_notifications{{state="{state}"}} {count}')
        for source in sources:
            lines.extend(await asyncio.get_running_loop().run_in_executor(
                None, source, svc.settings))
        return web.Response(text="\n".join(lines) + "\n",
                            content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
