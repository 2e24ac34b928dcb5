"""The mail gateway's gauges for /metrics (web.health runs them; the runtime hands them over)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from mail_gateway.spools import open_spool
from workflows import clock
from workflows.ports import CoreSettings


async def spool_metrics(settings: CoreSettings) -> list[Metric]:
    """Accepted mail waiting and set aside, and how long the oldest unanswered one has waited.

    On PostgreSQL two counts and one lookup on the spool's indexes; on files, a listing of
    this instance's spool folders."""
    pending, quarantined, oldest_age = await open_spool(settings).gauges(clock.now())
    messages = GaugeMetricFamily("paraphe_spool_messages", "Accepted mail in the spool",
                                 labels=["state"])
    messages.add_metric(["pending"], pending)
    messages.add_metric(["quarantined"], quarantined)
    oldest = GaugeMetricFamily("paraphe_spool_oldest_unanswered_seconds",
                               "How long the oldest unanswered accepted mail has waited",
                               value=round(oldest_age, 1))
    return [messages, oldest]
