"""`/healthz` and `/metrics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from tortoise import connections

from paraphe import metrics as process_metrics
from web.outbox_metrics import outbox_families
from workflows.models import EvidenceEvent, Notification
from workflows.ports import CoreSettings
from workflows.services import Services


# A part's own metric families for /metrics, from the settings: a coroutine function (it may
# query the database and run its file reading in a thread, as mail_gateway.metrics does).
MetricsSource = Callable[[CoreSettings], Awaitable[list[Metric]]]


class _Scrape:
    """A collector of families already computed for this scrape: the queries are async, and
    prometheus_client's collect() is not; the library writes the exposition format."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self):
        return iter(self.families)


def exposition(families: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(families))
    return generate_latest(registry)


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
        # No count over a whole table on a scrape: the log's size is its head's number (an
        # index lookup), and sent notifications, the bulk of their table, are not counted.
        head = await EvidenceEvent.all().order_by("-seq").limit(1).values_list("seq", flat=True)
        families = [
            GaugeMetricFamily("paraphe_evidence_events", "Events of the evidence log (the "
                              "number of its head)", value=head[0] if head else 0),
        ]
        by_state = GaugeMetricFamily("paraphe_notifications", "Notifications waiting or failed, "
                                     "by state", labels=["state"])
        for state in ("pending", "sending", "failed"):
            by_state.add_metric([state], await Notification.filter(state=state).count())
        families.append(by_state)
        families.extend(await outbox_families())
        families.extend(process_metrics.REGISTRY.collect())
        for source in sources:
            families.extend(await source(svc.settings))
        return web.Response(body=exposition(families),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
