"""Sweeps run once per period across the fleet: each run first claims the sweep's lease."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta

from workflows import leases, observations
from workflows.services import Services

log = logging.getLogger("paraphe.sweeps")

Sweep = Callable[[Services], Awaitable[object]]


def instance_name() -> str:
    """This process's name as a lease holder: the host and pid say which instance it is, the
    random part tells a restarted process from the one before (its lease is not its own)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class SweepLeases:
    """Wraps sweeps so that a run happens only on the instance holding the sweep's lease,
    and logs when this instance starts or stops being the one that runs a sweep."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.held: set[str] = set()

    def leased(self, name: str, seconds: float, sweep: Sweep) -> Sweep:
        period = timedelta(seconds=seconds)

        async def run(svc: Services) -> object:
            won = await leases.claim(f"sweep:{name}", self.holder, period)
            if won != (name in self.held):
                log.info("sweep %s: %s", name, "this instance runs it now" if won
                         else "another instance runs it now")
                (self.held.add if won else self.held.discard)(name)
            if not won:
                return None
            # One line per run, whichever instance makes it: the fleet's logs show each sweep
            # ran once per period (tests/paraphe/test_fleet_haproxy.py reads them).
            log.info("sweep %s: running for this period", name)
            # Runs and durations per sweep in /metrics (paraphe_sweep_seconds).
            with observations.timed("sweep", sweep=name):
                return await sweep(svc)

        run.__name__ = run.__qualname__ = name  # What APScheduler's log lines name.
        return run
