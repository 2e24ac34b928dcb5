"""`/healthz` and `/metrics`."""

from __future__ import annotations

import asyncio

from aiohttp import web
from tortoise import connections

from mail_gateway.spool import Spool, oldest_unanswered
from workflows import clock
from workflows.models import Cabinet, EvidenceEvent, Notification


def _spool_metrics(root) -> list[str]:
    """Accepted mail waiting and set aside, and how long the oldest unanswered one has waited."""
    spool = Spool(root)
    return [
        "# TYPE paraphe_spool_messages gauge",
        f'paraphe_spool_messages{{state="pending"}} {len(spool.pending())}',
        f'paraphe_spool_messages{{state="quarantined"}} {len(spool.quarantined())}',
        "# TYPE paraphe_spool_oldest_unanswered_seconds gauge",
        f"paraphe_spool_oldest_unanswered_seconds {oldest_unanswered(spool, clock.now()):.1f}",
    ]


def add_routes(app: web.Application, svc) -> None:
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
        lines.extend(await asyncio.get_running_loop().run_in_executor(
            None, _spool_metrics, svc.settings.home / "spool"))
        return web.Response(text="\n".join(lines) + "\n",
                            content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
