"""The spool in PostgreSQL (table spooled_mail), shared by the instances of the fleet.

The gateway commits one row per recipient, in one transaction, before it answers 250. A
worker claims rows with a lease (`FOR UPDATE SKIP LOCKED`: two workers never get the same
row) and renews it while it works; a lease left by a killed instance expires and any
instance takes the row. A failure is written into the row (`attempts`, `not_before`), so the
next try honours it wherever it runs. The row is deleted after the InboundMessage row
records the answer: a crash between the two processes it again, which that row turns into
"duplicate".
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from tortoise import connections

from mail_gateway.models import SpooledMail
from mail_gateway.spool_entry import Entry, Gone
from workflows import clock, holders
from workflows.transactions import in_transaction

# A claim lasts this long unless renewed (every LEASE / 4 while the worker runs): the delay
# before another instance takes the work of one killed with `kill -9`.
LEASE = timedelta(minutes=2)

# Oldest first, due, not held by a live lease; rows locked by another claim are skipped,
# not waited for. Served by the (state, not_before, id) index.
_CLAIM = """
UPDATE spooled_mail SET lease_holder = $1, lease_until = $2
WHERE id IN (
    SELECT id FROM spooled_mail
    WHERE state = 'pending' AND not_before <= $3 AND (lease_until IS NULL OR lease_until < $3)
    ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $4)
RETURNING id, name
"""


def _name() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}"


def _since(envelope: dict) -> datetime | None:
    """When the envelope says its message was accepted (or released by an operator)."""
    try:
        return datetime.fromisoformat(envelope.get("retried_at") or envelope["received_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


class DatabaseSpool:
    """spooled_mail rows; each method one or two statements."""

    shared = True
    root = "postgres:spooled_mail"

    async def write(self, plans: list[dict], raw: bytes, *, holder: str | None = None
                    ) -> list[str]:
        """Commits one row per envelope in one transaction; returns their ids. With a
        `holder` the rows are leased to it already: the accepting worker processes them at
        once, and no other instance claims them meanwhile."""
        now = clock.now()
        names = []
        async with in_transaction():
            for plan in plans:
                row = await SpooledMail.create(
                    name=_name(), envelope=plan, message=raw, not_before=now,
                    received_at=_since(plan) or now,
                    lease_holder=holder, lease_until=now + LEASE if holder else None)
                names.append(row.name)
        return names

    async def claim(self, holder: str, limit: int) -> list[str]:
        """Leases up to `limit` due rows to `holder`, oldest first; returns their ids."""
        if limit <= 0:
            return []
        now = clock.now()
        # execute_query_dict fetches: tortoise's execute_query drops an UPDATE's RETURNING.
        rows = await connections.get("default").execute_query_dict(
            _CLAIM, [holder, now + LEASE, now, limit])
        return [row["name"] for row in sorted(rows, key=lambda r: r["id"])]

    async def renew(self, holder: str) -> int:
        """Extends every lease `holder` has (the rows it has queued or is processing)."""
        return await SpooledMail.filter(lease_holder=holder, state="pending").update(
            lease_until=clock.now() + LEASE)

    async def release_held(self, holder: str) -> int:
        """Frees the leases `holder` has: another instance may claim the rows at once."""
        return await SpooledMail.filter(lease_holder=holder, state="pending").update(
            lease_holder=None, lease_until=None)

    async def release_dead(self, home, holder: str) -> int:
        """Frees at once the leases of a killed process of this host and home (its restart
        need not wait for them to expire); other instances' wait for their expiry."""
        held = await SpooledMail.filter(
            state="pending", lease_holder__startswith=holders.same_place_prefix(home)
        ).values_list("id", "lease_holder")
        dead = [i for i, by in held if by != holder and holders.left_by_dead_process(by, home)]
        if not dead:
            return 0
        return await SpooledMail.filter(id__in=dead).update(lease_holder=None,
                                                            lease_until=None)

    async def size(self, ident: str) -> int:
        _, rows = await connections.get("default").execute_query(
            "SELECT octet_length(raw) AS size FROM spooled_mail"
            " WHERE name = $1 AND state = 'pending'", [ident])
        if not rows:
            raise Gone(ident)
        return rows[0]["size"]

    async def read(self, ident: str) -> tuple[dict, bytes]:
        row = await SpooledMail.get_or_none(name=ident, state="pending")
        if row is None:
            raise Gone(ident)
        return row.envelope, bytes(row.message)

    async def source(self, ident: str) -> tuple[dict, bytes]:
        """The envelope and the message, which a worker process parses (mail_gateway.parsing):
        the bytes cross to it once. Raises Gone."""
        return await self.read(ident)

    async def envelope(self, ident: str) -> dict:
        found = await SpooledMail.filter(name=ident, state="pending").values_list(
            "envelope", flat=True)
        if not found:
            raise Gone(ident)
        return _json(found[0])

    async def remove(self, ident: str) -> None:
        await SpooledMail.filter(name=ident).delete()

    async def quarantine(self, ident: str, reason: dict) -> None:
        await SpooledMail.filter(name=ident, state="pending").update(
            state="quarantined", reason=json.loads(json.dumps(reason, default=str)),
            lease_holder=None, lease_until=None)

    async def postpone(self, ident: str, delay_for: Callable[[int], float]) -> None:
        """Gives the row back for a try after `delay_for(attempts so far)` seconds, by any
        instance."""
        found = await SpooledMail.filter(name=ident, state="pending").values_list(
            "attempts", flat=True)
        if not found:
            return
        await SpooledMail.filter(name=ident, state="pending").update(
            attempts=found[0] + 1, lease_holder=None, lease_until=None,
            not_before=clock.now() + timedelta(seconds=delay_for(found[0])))

    def clean(self) -> None:
        """Nothing half-written: a row exists once its transaction committed."""

    # What `paraphe spool` and /metrics read.

    async def entries(self) -> list[Entry]:
        _, rows = await connections.get("default").execute_query(
            "SELECT name, state, envelope, reason, octet_length(raw) AS size"
            " FROM spooled_mail ORDER BY state, id")
        return [Entry(id=r["name"], state=r["state"], envelope=_json(r["envelope"]),
                      size=r["size"], reason=_json(r["reason"])) for r in rows]

    async def find(self, ident: str) -> Entry:
        row = await SpooledMail.get_or_none(name=ident)
        if row is None:
            raise Gone(ident)
        raw = bytes(row.message)
        return Entry(id=row.name, state=row.state, envelope=row.envelope, size=len(raw),
                     reason=row.reason if row.state == "quarantined" else None, raw=raw)

    async def release(self, ident: str, envelope_update: dict) -> str:
        """Puts a quarantined row back, under a new id, with a fresh deadline."""
        row = await SpooledMail.get_or_none(name=ident, state="quarantined")
        if row is None:
            raise Gone(ident)
        now, name = clock.now(), _name()
        await SpooledMail.filter(id=row.id, state="quarantined").update(
            name=name, envelope={**row.envelope, **envelope_update}, state="pending",
            reason=None, attempts=0, not_before=now, received_at=now, lease_holder=None,
            lease_until=None)
        return name

    async def drop(self, ident: str) -> None:
        if not await SpooledMail.filter(name=ident).delete():
            raise Gone(ident)

    async def gauges(self, now: datetime) -> tuple[int, int, float]:
        """(pending, quarantined, age in seconds of the oldest pending): index scans."""
        pending = await SpooledMail.filter(state="pending").count()
        quarantined = await SpooledMail.filter(state="quarantined").count()
        oldest = await SpooledMail.filter(state="pending").order_by("received_at").limit(
            1).values_list("received_at", flat=True)
        age = max(0.0, (now - oldest[0]).total_seconds()) if oldest else 0.0
        return pending, quarantined, age
