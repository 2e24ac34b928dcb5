"""One instance of the fleet polls Telegram: the holder of a PostgreSQL advisory lock.

Telegram answers 409 Conflict to a second poller, so the instances on one PostgreSQL
elect one: each tries `pg_try_advisory_lock` every few seconds on a connection of its
own (not tortoise's pool: a session-level lock belongs to the connection that took it,
and a pooled connection is handed to other work and recycled). The lock lives as long
as that connection: when the holder dies, PostgreSQL drops the connection and the lock,
and another instance takes it at its next try. TCP keepalives on the connection make the
server notice a holder whose machine vanished (no FIN) within about 25 s. The holder
stops polling as soon as its connection closes (and checks it at each round, for a
connection that hangs), since another instance may hold the lock by then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url

log = logging.getLogger("paraphe.election")

# The lock's key: "paraphe" and 1 for the Telegram poller. Advisory locks belong to one
# database, so two services on one server (two databases) elect apart.
TELEGRAM_POLLER = int.from_bytes(b"paraphe\x01", "big")
RETRY_SECONDS = 5.0
# The server closes a connection whose peer stopped answering after 10 + 3 × 5 s.
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
              "tcp_keepalives_count": "3"}

Callback = Callable[[], Awaitable[None] | None]


def is_postgres(database_url: str) -> bool:
    return expand_db_url(database_url)["engine"] in ("tortoise.backends.asyncpg",
                                                      "tortoise.backends.psycopg")


async def _connect(database_url: str) -> asyncpg.Connection:
    c = expand_db_url(database_url)["credentials"]
    return await asyncpg.connect(host=c.get("host"), port=c.get("port"), user=c.get("user"),
                                 password=c.get("password"), database=c.get("database"),
                                 ssl=c.get("ssl"), timeout=RETRY_SECONDS,
                                 server_settings=KEEPALIVES)


async def _call(callback: Callback) -> None:
    result = callback()
    if asyncio.iscoroutine(result):
        await result


class AdvisoryLockElection:
    """Runs `on_elected` when this instance takes the lock, `on_deposed` when it loses it
    (its connection broke) or stops."""

    def __init__(self, database_url: str, key: int, *, on_elected: Callback,
                 on_deposed: Callback, what: str, retry: float = RETRY_SECONDS) -> None:
        self.database_url, self.key, self.what, self.retry = database_url, key, what, retry
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.conn: asyncpg.Connection | None = None
        self.elected = False
        self._task: asyncio.Task | None = None

    async def start(self) -> bool:
        """Makes a first try at once, then keeps trying in the background; returns whether
        this instance was elected by the first try."""
        await self._round()
        self._task = asyncio.create_task(self._run(), name=f"election-{self.what}")
        return self.elected

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry)
            await self._round()

    async def _round(self) -> None:
        try:
            if self.elected:
                await self.conn.fetchval("SELECT 1", timeout=self.retry)
                return
            if self.conn is None or self.conn.is_closed():
                self.conn = await _connect(self.database_url)
            if await self.conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key,
                                        timeout=self.retry):
                self.elected = True
                self.conn.add_termination_listener(self._lost)
                log.info("%s: this instance was elected", self.what)
                await _call(self.on_elected)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The lock went with the connection (or never came): another instance may hold
            # it now, so this one stops at once and tries again later.
            log.warning("%s: database connection lost (%s)", self.what, type(exc).__name__)
            await self._drop()
        except Exception:  # noqa: BLE001 - the election must go on; the next round retries.
            log.exception("%s: election round failed", self.what)
            await self._drop()

    async def _lost(self, conn: asyncpg.Connection) -> None:
        # The server closed the holder's connection (restart, terminated session): the
        # lock is gone this instant, so polling stops now rather than at the next round.
        if conn is self.conn and self.elected:
            log.warning("%s: database connection lost", self.what)
            await self._drop()

    async def _drop(self) -> None:
        # Stepping down before the lock goes: two pollers at once is what this prevents.
        if self.elected:
            self.elected = False
            log.info("%s: this instance stepped down", self.what)
            try:
                await _call(self.on_deposed)
            finally:
                self._close()
        self._close()

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.terminate()

    async def stop(self) -> None:
        """Stops trying; a holder steps down and closes its connection, freeing the lock."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._drop()
