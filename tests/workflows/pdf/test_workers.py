"""The signing engine's workers: a job's exception reaches its caller; a worker killed in
the middle of a job fails only the jobs it held, and the next job finds a fresh worker;
close() leaves no worker behind."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from workflows.errors import TrustServiceError


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_job_raises_in_its_caller_with_its_type_and_message(engine):
    with pytest.raises(ValueError, match="invalid literal for int"):
        await engine._run(int, "sept")
    assert await engine._run(int, "7") == 7


async def test_jobs_from_many_tasks_each_get_their_own_answer(engine):
    answers = await asyncio.gather(*(engine._run(str, i) for i in range(200)))
    assert answers == [str(i) for i in range(200)]


async def test_a_large_job_and_its_answer_cross_whole(engine):
    data = os.urandom(3 * 1024 * 1024)  # more than the socket buffers hold
    assert await engine._run(bytes, data) == data


async def test_a_worker_killed_mid_job_fails_its_jobs_only_then_is_replaced(engine):
    victim = await engine._run(os.getpid, slot=0)
    other = await engine._run(os.getpid, slot=1)
    running = asyncio.create_task(engine._run(time.sleep, 30, slot=0))
    waiting = asyncio.create_task(engine._run(os.getpid, slot=0))
    elsewhere = asyncio.create_task(engine._run(time.sleep, 0.5, slot=1))
    await asyncio.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    for job in (running, waiting):
        with pytest.raises(TrustServiceError, match="worker stopped"):
            await asyncio.wait_for(job, 10)
    assert await elsewhere is None
    fresh = await engine._run(os.getpid, slot=0)
    assert fresh not in (victim, other)
    assert await engine._run(os.getpid, slot=1) == other
    assert await engine._run(int, "8", slot=0) == 8


async def test_close_ends_every_worker(trust, engine):
    await engine.warm_up()
    pids = [await engine._run(os.getpid, slot=slot) for slot in range(2)]
    engine.close()
    assert all(_gone(pid) for pid in pids)
    engine.close()  # and again, as the fixture does
