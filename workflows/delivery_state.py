"""Where outgoing messages stand, for the operator (`paraphe outbox --failed`, /metrics).

Each question reads only the rows still waiting or failed, through the index on
Notification.state: the sent rows, which are nearly all of them, are never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.functions import Count, Min

from workflows import clock
from workflows.models import Notification, Signer

CHANNELS = ("mail", "telegram", "sms", "webhook")
# A notification failed by running out of retries has no reason of its own (mark_failed).
RETRIES_EXHAUSTED = "retries_exhausted"
WAITING = ("pending", "sending")


@dataclass
class OutboxGauges:
    # Per channel: messages not sent yet (waiting or being sent), and the age in seconds of
    # the oldest of them; every known channel is present, at 0 when nothing waits.
    pending: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: dict[str, float] = field(default_factory=dict)
    # (channel, reason) -> failed notifications.
    failed: dict[tuple[str, str], int] = field(default_factory=dict)


def _as_datetime(value) -> datetime | None:
    # An aggregate comes back raw from SQLite (text), typed from PostgreSQL.
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.now().tzinfo)


async def outbox_gauges() -> OutboxGauges:
    """Two grouped queries: the waiting rows by channel, the failed rows by channel and
    reason. Failed rows are counted whole (not within a window): they are few, the database
    is the one place every process's failures meet, and a count that only grows is what
    Prometheus expects of a counter (rate() over it gives failures per second)."""
    now = clock.now()
    gauges = OutboxGauges(pending={c: 0 for c in CHANNELS},
                          oldest_pending_seconds={c: 0.0 for c in CHANNELS})
    rows = await (Notification.filter(state__in=WAITING)
                  .annotate(n=Count("id"), oldest=Min("created_at"))
                  .group_by("channel").values("channel", "n", "oldest"))
    for row in rows:
        gauges.pending[row["channel"]] = int(row["n"])
        oldest = _as_datetime(row["oldest"])
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        gauges.oldest_pending_seconds[row["channel"]] = max(age, 0.0)
    rows = await (Notification.filter(state="failed")
                  .annotate(n=Count("id"))
                  .group_by("channel", "failure_reason")
                  .values("channel", "failure_reason", "n"))
    for row in rows:
        key = (row["channel"], row["failure_reason"] or RETRIES_EXHAUSTED)
        gauges.failed[key] = gauges.failed.get(key, 0) + int(row["n"])
    return gauges


def _one_line(text: str | None, width: int = 160) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[:width - 1] + "…"


async def failed_notifications(limit: int = 0) -> list[dict]:
    """The notifications failed for good on every channel, oldest first (the last `limit`
    when given): enough to tell who was not reached, with what, and why."""
    query = Notification.filter(state="failed").order_by("-id")
    if limit:
        query = query.limit(limit)
    rows = list(reversed(await query))
    return [{
        "id": n.id,
        "channel": n.channel,
        "recipient": n.recipient,
        "template": n.template,
        "attempts": n.attempts,
        "failure_reason": n.failure_reason or RETRIES_EXHAUSTED,
        "last_error": _one_line(n.last_error),
        "created_at": n.created_at.isoformat(),
    } for n in rows]


# Where a signer's invitation stands: not sent yet, sent, or their address failed.
INVITATION_STATES = ("pending", "sent", "failed")


def invitation_key(collection_id: int, signer_id: int) -> str:
    # The dedup key workflows.collections.notices.invite gives the invitation.
    return f"collection:{collection_id}:signer:{signer_id}:invitation"


async def invitation_delivery(signers: list[Signer]) -> dict[int, str | None]:
    """Per signer id: "pending" (invitation not sent yet), "sent", "failed" (it or a later
    message to the signer could not be delivered), or None (not invited yet: a later turn in
    a set order). One query, on the invitations' unique dedup keys (Notification.signer_id
    has no index to read by)."""
    if not signers:
        return {}
    keys = {invitation_key(s.collection_id, s.id): s.id for s in signers}
    rows = await (Notification.filter(dedup_key__in=list(keys))
                  .values("dedup_key", "state", "delivery_status"))
    invitations = {keys[row["dedup_key"]]: row for row in rows}
    states: dict[int, str | None] = {}
    for signer in signers:
        row = invitations.get(signer.id)
        if signer.delivery_failed_at is not None:
            # Set on a bounce or a refusal, cleared when a later message is delivered.
            states[signer.id] = "failed"
        elif row is None:
            states[signer.id] = None
        elif row["state"] == "failed" or row["delivery_status"] == "failed":
            states[signer.id] = "failed"
        elif row["state"] in WAITING:
            states[signer.id] = "pending"
        else:
            states[signer.id] = "sent"
    return states
