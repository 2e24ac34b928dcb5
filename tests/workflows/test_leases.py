"""Sweep leases: one instance runs a sweep per period; another takes over when it dies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from paraphe.metrics import REGISTRY
from paraphe.sweep_leases import SweepLeases
from tests.conftest import BACKEND
from workflows import clock, leases
from workflows.models import Lease

PERIOD = timedelta(seconds=60)


async def test_one_holder_per_period_and_takeover_after_expiry(db):
    assert await leases.claim("sweep:x", "a", PERIOD)
    assert not await leases.claim("sweep:x", "b", PERIOD)
    clock.fast_forward(seconds=30)
    assert not await leases.claim("sweep:x", "b", PERIOD)
    # The holder renews at its next run, even a little before its lease ends.
    clock.fast_forward(seconds=29)
    assert await leases.claim("sweep:x", "a", PERIOD)
    # "a" stops running: once its lease has expired, "b" takes the sweep over.
    clock.fast_forward(seconds=59)
    assert not await leases.claim("sweep:x", "b", PERIOD)
    clock.fast_forward(seconds=2)
    assert await leases.claim("sweep:x", "b", PERIOD)
    assert not await leases.claim("sweep:x", "a", PERIOD)
    assert (await Lease.get(name="sweep:x")).holder == "b"
    # Leases are per name.
    assert await leases.claim("sweep:y", "a", PERIOD)


async def test_concurrent_claims_have_one_winner(db):
    holders = [f"instance-{i}" for i in range(6)]
    for round_ in range(5):  # The first round makes the row; the others take it over.
        won = await asyncio.gather(*(leases.claim("sweep:race", h, PERIOD) for h in holders))
        assert sum(won) == 1, (round_, won)
        clock.fast_forward(seconds=61)


async def _fire(instances, when: dict, runs: list, alive: dict, until: int) -> None:
    """Plays the schedulers of several instances on the moved clock: instance i fires at
    its own phase, every period, while it is alive."""
    start = clock.offset()
    events = sorted((t, name) for name, phase in when.items()
                    for t in range(phase, until, int(PERIOD.total_seconds())))
    for t, name in events:
        if t >= alive[name]:
            continue
        clock.set_offset(start + timedelta(seconds=t))

        async def sweep(svc, name=name, t=t):
            runs.append((t, name))

        await instances[name].leased("expire_due", PERIOD.total_seconds(), sweep)(None)


async def test_sweep_runs_once_per_period_across_instances(db, caplog):
    caplog.set_level("INFO", logger="paraphe.sweeps")
    instances = {name: SweepLeases(name) for name in ("a", "b", "c")}
    runs: list[tuple[int, str]] = []
    counted = REGISTRY.get_sample_value("paraphe_sweep_seconds_count", {"sweep": "expire_due"})
    # "a" dies at 200 s; "b" and "c" fire 20 and 40 s after it in each period.
    await _fire(instances, {"a": 0, "b": 20, "c": 40}, runs, {"a": 200, "b": 10**6, "c": 10**6},
                until=600)
    times = [t for t, _ in runs]
    assert [name for _, name in runs[:4]] == ["a"] * 4  # 0, 60, 120, 180
    assert all(b - a >= 60 for a, b in zip(times, times[1:], strict=False)), runs
    # The lease "a" renewed at 180 s ends at 240 s; the next instance to fire takes over.
    assert runs[4] == (260, "b") and {name for _, name in runs[4:]} == {"b"}
    assert len(runs) == 4 + len(range(260, 600, 60))
    assert "sweep expire_due: this instance runs it now" in caplog.text
    # Each run, and only a run, is in the metrics (the skipped firings are not).
    assert REGISTRY.get_sample_value("paraphe_sweep_seconds_count", {"sweep": "expire_due"}) \
        - (counted or 0) == len(runs)


CONTENDER = textwrap.dedent("""
    import asyncio, sys
    from datetime import timedelta
    from tortoise import Tortoise
    from paraphe.db import tortoise_config
    from workflows import leases

    async def main(url, names):
        await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
        print("ready", flush=True)
        sys.stdin.readline()  # Both processes start claiming together.
        for name in names:
            won = await leases.claim(name, "other-process", timedelta(seconds=60))
            print(name, int(won), flush=True)
        await Tortoise.close_connections()

    asyncio.run(main(sys.argv[1], sys.argv[2:]))
""")


@pytest.mark.skipif(BACKEND != "postgres", reason="instances share a database on PostgreSQL")
async def test_two_processes_have_one_winner_per_lease(db, settings):
    names = [f"sweep:p{i}" for i in range(200)]
    # Half the leases exist and have expired (the UPDATE decides), half are new (the INSERT).
    await Lease.bulk_create([Lease(name=n, holder="gone", expires_at=clock.now())
                             for n in names[::2]])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CONTENDER, settings.database_url, *names,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    # The two go through the names from opposite ends, and meet somewhere in the middle.
    mine = {n: await leases.claim(n, "this-process", PERIOD) for n in reversed(names)}
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    theirs = dict(line.split() for line in out.decode().splitlines())
    assert proc.returncode == 0
    assert all(int(theirs[n]) + int(mine[n]) == 1 for n in names)
    # Both won some: the two really raced, rather than one finishing before the other began.
    holders = {row.holder for row in await Lease.filter(name__in=names)}
    assert holders == {"this-process", "other-process"}, holders
