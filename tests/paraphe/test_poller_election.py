"""The Telegram poller's election on PostgreSQL: one instance holds the advisory lock, and
another takes over when the holder's connection goes."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from paraphe import poller_election
from paraphe.poller_election import AdvisoryLockElection
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serves one instance, which always polls")

KEY = poller_election.TELEGRAM_POLLER


class Instance:
    """An election and the polling it switches, as one instance of the fleet would run."""

    def __init__(self, url: str, name: str) -> None:
        self.name, self.polling, self.steps = name, False, []
        self.election = AdvisoryLockElection(url, KEY, what=f"polling {name}", retry=0.2,
                                             on_elected=self._up, on_deposed=self._down)

    def _up(self) -> None:
        self.polling = True
        self.steps.append("elected")

    async def _down(self) -> None:
        self.polling = False
        self.steps.append("deposed")


async def _lock_holders(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        # A bigint key is stored as two halves (classid: high, objid: low).
        return [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = $1 AND objid::bigint = $2", KEY >> 32, KEY & 0xFFFFFFFF)]
    finally:
        await conn.close()


async def _terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def _until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not within the time allowed"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_one_instance_polls_and_another_takes_over(database_url, caplog):
    caplog.set_level("INFO", logger="paraphe.election")
    a, b, c = (Instance(database_url, name) for name in "abc")
    try:
        results = await asyncio.gather(*(i.election.start() for i in (a, b, c)))
        assert sorted(results) == [False, False, True]
        first = next(i for i in (a, b, c) if i.polling)
        await asyncio.sleep(1)  # Several rounds: the others keep trying, and keep failing.
        assert [i.polling for i in (a, b, c)].count(True) == 1
        assert await _lock_holders(database_url) == [first.election.conn.get_server_pid()]

        # The holder's session is cut (a database restart, a network cut): it stops polling
        # at once, and one instance (itself again, maybe) is elected.
        await _terminate(database_url, first.election.conn.get_server_pid())
        await _until(lambda: "deposed" in first.steps, 5)
        await _until(lambda: any(i.polling for i in (a, b, c)), 30)
        await asyncio.sleep(1)
        assert [i.polling for i in (a, b, c)].count(True) == 1

        # The holder dies: it tries no more, and the server drops its session.
        dead = next(i for i in (a, b, c) if i.polling)
        dead.election._task.cancel()
        await _terminate(database_url, dead.election.conn.get_server_pid())
        took = await _until(lambda: any(i.polling for i in (a, b, c) if i is not dead), 30)
        assert took < 30
        second = next(i for i in (a, b, c) if i.polling and i is not dead)
        assert await _lock_holders(database_url) == [second.election.conn.get_server_pid()]
        await asyncio.sleep(1)
        assert [i.polling for i in (a, b, c) if i is not dead].count(True) == 1

        # A clean stop frees the lock at once for the last one.
        await second.election.stop()
        assert second.steps[-2:] == ["elected", "deposed"]
        third = next(i for i in (a, b, c) if i not in (dead, second))
        await _until(lambda: third.polling, 30)
    finally:
        for i in (a, b, c):
            await i.election.stop()
    assert not any(i.polling for i in (a, b, c) if i is not dead)
    assert await _lock_holders(database_url) == []
    assert "this instance was elected" in caplog.text
    assert "this instance stepped down" in caplog.text
    assert "postgres@" not in caplog.text and database_url not in caplog.text
