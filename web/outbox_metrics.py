"""The outbox's families for /metrics: what waits per channel, for how long, and what failed
and why (the queries are workflows.delivery_state's, on the waiting and failed rows only)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from workflows.delivery_state import outbox_gauges


async def outbox_families() -> list[Metric]:
    gauges = await outbox_gauges()
    pending = GaugeMetricFamily("paraphe_outbox_pending",
                                "Notifications not sent yet (waiting or being sent)",
                                labels=["channel"])
    oldest = GaugeMetricFamily("paraphe_outbox_oldest_pending_seconds",
                               "Age of the oldest notification not sent yet", labels=["channel"])
    for channel, count in sorted(gauges.pending.items()):
        pending.add_metric([channel], count)
        oldest.add_metric([channel], round(gauges.oldest_pending_seconds[channel], 1))
    # Exposed as paraphe_outbox_failed_total.
    failed = CounterMetricFamily("paraphe_outbox_failed",
                                 "Notifications failed for good, by channel and reason",
                                 labels=["channel", "reason"])
    for (channel, reason), count in sorted(gauges.failed.items()):
        failed.add_metric([channel, reason], count)
    return [pending, oldest, failed]
