"""The mail gateway's gauges for /metrics (web.health runs them; the runtime hands them over)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from mail_gateway.spool import Spool, oldest_unanswered
from workflows import clock
from workflows.ports import CoreSettings


def spool_metrics(settings: CoreSettings) -> list[Metric]:
    """Accepted mail waiting and set aside, and how long the oldest unanswered one has waited."""
    spool = Spool(settings.home / "spool")
    messages = GaugeMetricFamily("paraphe_spool_messages", "Accepted mail in the spool",
                                 labels=["state"])
    messages.add_metric(["pending"], len(spool.pending()))
    messages.add_metric(["quarantined"], len(spool.quarantined()))
    oldest = GaugeMetricFamily("paraphe_spool_oldest_unanswered_seconds",
                               "How long the oldest unanswered accepted mail has waited",
                               value=round(oldest_unanswered(spool, clock.now()), 1))
    return [messages, oldest]
