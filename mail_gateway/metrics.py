"""The mail gateway's gauges for /metrics (web.health runs them; the runtime hands them over)."""

from __future__ import annotations

from mail_gateway.spool import Spool, oldest_unanswered
from workflows import clock
from workflows.ports import CoreSettings


def spool_metrics(settings: CoreSettings) -> list[str]:
    """Accepted mail waiting and set aside, and how long the oldest unanswered one has waited."""
    spool = Spool(settings.home / "spool")
    return [
        "# TYPE paraphe_spool_messages gauge",
        f'paraphe_spool_messages{{state="pending"}} {len(spool.pending())}',
        f'paraphe_spool_messages{{state="quarantined"}} {len(spool.quarantined())}',
        "# TYPE paraphe_spool_oldest_unanswered_seconds gauge",
        f"paraphe_spool_oldest_unanswered_seconds {oldest_unanswered(spool, clock.now()):.1f}",
    ]
