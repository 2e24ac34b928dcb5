"""Leases: a periodic job (a sweep) runs on one instance of the fleet per period.

Every instance's scheduler fires every sweep; before running one, an instance claims the
sweep's lease for one period. The claim is one conditional UPDATE (taken when the lease
has expired or this instance already holds it) and, the first time a name is seen, an
INSERT that the primary key lets only one instance make. The holder renews its lease at
each of its runs, so the sweep stays with it; when it dies, its lease expires and the
next instance whose scheduler fires takes the sweep over. A lease is never given back
early (not even by an instance stopping cleanly): that would let another instance run the
sweep a second time within the period. On SQLite the one instance always wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from workflows import clock
from workflows.models import Lease


async def claim(name: str, holder: str, period: timedelta, *,
                now: datetime | None = None) -> bool:
    """Whether `holder` holds the lease `name` for the period starting now (it took it,
    renewed it, or made it); False while another holder's lease runs."""
    now = now or clock.now()
    until = now + period
    # Under PostgreSQL's row lock, a second claimant re-reads the row the first one just
    # renewed and finds it neither expired nor its own: one winner per period.
    taken = await Lease.filter(Q(expires_at__lte=now) | Q(holder=holder), name=name).update(
        holder=holder, expires_at=until)
    if taken == 1:
        return True
    try:
        await Lease.create(name=name, holder=holder, expires_at=until)
    except IntegrityError:  # The lease exists and another holder's period runs.
        return False
    return True

