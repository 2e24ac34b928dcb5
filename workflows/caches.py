"""Per-process caches of rarely changing rows (people, rights, API keys, tariffs, seal
certificates, revocation state), emptied by every write to their tables.

Invalidation does not rely on each writer remembering to call it: every statement tortoise
sends passes through its `tortoise.db_client` logger (the one paraphe.metrics counts), and a
filter there empties a topic's caches when an INSERT, UPDATE or DELETE names one of the
topic's tables. Core, CLI, web cabinet, a migration: any writer in this process invalidates,
at once, then again when the outermost transaction ends (workflows.transactions), so that a
read made on SQLite's reader connection between the write and its commit cannot put the old
row back.

Other processes (a second instance on PostgreSQL, the CLI beside a SQLite service) are
covered by a short lifetime instead: an entry is served for at most `TTL` seconds after it
was read. Chosen over LISTEN/NOTIFY because it holds for every writer without one more
connection per instance, and cannot fail open when a listener connection silently drops: a
revoked delegation, a removed member or a revoked API key stops working on another
instance within TTL seconds, and on this one at once. The cost is one reload per key every
TTL seconds, nothing at hundreds of operations a second.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from workflows import transactions

# Seconds an entry read from the database is served: the bound on how long another process's
# write (a revocation) can go unseen here.
TTL = 2.0
SIZE = 4096  # Entries per cache: least recently used ones go first.

# Which topic a write to each table invalidates.
TOPICS = {
    "person": "people", "membership": "people", "delegation": "people", "api_key": "people",
    "cabinet": "people", "terms_acceptance": "people",
    "tariff": "tariffs",
    "certificate": "certificates",
}
_MISS = object()
_generations: dict[str, int] = {topic: 0 for topic in set(TOPICS.values())}
_caches: list[Cache] = []


class Cache:
    """A bounded LRU map of one kind of lookup, emptied with its topic."""

    def __init__(self, name: str, topic: str, size: int = SIZE) -> None:
        if topic not in _generations:
            raise ValueError(f"unknown cache topic {topic!r}")
        self.name, self.topic, self.size = name, topic, size
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        _caches.append(self)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, key: Hashable) -> Any:
        """The live entry, or `MISS`."""
        found = self._entries.get(key)
        if found is None:
            return _MISS
        if found[0] <= time.monotonic():
            del self._entries[key]
            return _MISS
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """Keeps `value` unless the topic changed since `generation` was taken (a write
        raced the read). A read inside a transaction that wrote the topic may keep what
        it saw uncommitted: the end of the transaction empties the topic again."""
        if generation != _generations[self.topic]:
            return
        self._entries[key] = (time.monotonic() + TTL, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def load(self, key: Hashable, loader: Callable[[], Awaitable[Any]], *,
                   keep_none: bool = True) -> Any:
        """The cached value for `key`, else `await loader()` kept for next time. A loader's
        exception is not cached, nor its None with `keep_none=False` (for a row about to be
        made: whoever finds none makes it, and the next caller must look again)."""
        value = self.get(key)
        if value is not _MISS and (keep_none or value is not None):
            return value
        generation = _generations[self.topic]
        value = await loader()
        if keep_none or value is not None:
            self.put(key, value, generation)
        return value


MISS = _MISS


def changed(topic: str) -> None:
    """Empties the topic's caches now and when the current transaction ends."""
    _forget(topic)
    transactions.after_transaction(lambda: _forget(topic))


def forget_all() -> None:
    """Empties every cache (a database was opened, a test starts)."""
    for topic in _generations:
        _forget(topic)


def _forget(topic: str) -> None:
    _generations[topic] += 1
    for cache in _caches:
        if cache.topic == topic:
            cache.clear()


_WRITES = ("INSERT INTO ", "UPDATE ", "DELETE FROM ")
# The balance moves on every seal; the cached cabinets' balance is never trusted
# (workflows.sealing reads it again before refusing), so an update of it alone keeps them.
_BALANCE = 'UPDATE "cabinet" SET "credit_balance"='


def topic_of(statement: str) -> str | None:
    """The topic a SQL statement changes, or None (reads, other tables, balance moves)."""
    head = statement.lstrip()[:64]
    for verb in _WRITES:
        if head[:len(verb)].upper() == verb:
            table = head[len(verb):].split(None, 1)[0].strip('"`')
            if head.startswith(_BALANCE) and "," not in statement.partition(" WHERE ")[0]:
                return None
            return TOPICS.get(table)
    return None


class _WatchWrites(logging.Filter):
    """Sees each statement tortoise logs (at DEBUG, before sending it) and invalidates."""

    def filter(self, record: logging.LogRecord) -> bool:
        statement = record.args[0] if isinstance(record.args, tuple) and record.args \
            else record.msg
        if isinstance(statement, str) and (topic := topic_of(statement)) is not None:
            changed(topic)
        return True


_statements = logging.getLogger("tortoise.db_client")
# DEBUG so that tortoise makes a record of each statement; paraphe.metrics also drops them
# unless the service logs at DEBUG.
_statements.setLevel(logging.DEBUG)
# First among the logger's filters: paraphe.metrics' one drops the record after counting it,
# and a filter that says no stops the others.
_statements.filters.insert(0, _WatchWrites())
