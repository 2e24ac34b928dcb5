"""tortoise-orm 1.1: the two SQLite clients of paraphe.sqlite, built on tortoise's internals.

Tortoise gives a SQLite database one connection guarded by one asyncio lock; paraphe.sqlite
(see there why) gives a file a writer and a reader connection, with tortoise's client
subclassed here:

- `tortoise.sqlite_writer`: the writer's transactions begin in one round trip
  (``BEGIN IMMEDIATE``) instead of two (a COMMIT of nothing, then BEGIN). It overrides the
  private `_in_transaction` that tortoise's `in_transaction()` calls, and its transaction
  reads the wrapper's private `_connection` and the client's private `_lock`.
- `tortoise.sqlite_reader`: the reader is read-only, never locked by asyncio, and runs no
  transactions. aiosqlite already runs one statement at a time in the connection's thread;
  tortoise's lock on top makes each read wait for the previous one to come back through the
  event loop. It overrides `acquire_connection`, opens the private `_connection` itself, and
  refuses `_in_transaction`.

Also checked, for workflows.billing and workflows.otp (raw pypika queries on a model's
table) and migration 0004 (a RemoveField that drops a column): `Model._meta.basetable`,
`Model._meta.db` and `RemoveField.database_forward`.

PARAPHE_COMPAT_DISABLE=tortoise.sqlite_writer / tortoise.sqlite_reader falls back to
tortoise's own transaction and lock (tests/compat/test_tortoise.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from tortoise import transactions
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError
from tortoise.migrations import operations
from tortoise.models import MetaInfo

from compat import Checks, disabled

_immediate = True
_unlocked = True
_checked = False


class ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        # The connection runs in autocommit mode (isolation_level=None): nothing is pending.
        # IMMEDIATE takes the write lock now, so a transaction that reads before it writes
        # cannot fail half-way with SQLITE_BUSY when another process wrote meanwhile.
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class SqliteWriterClient(SqliteClient):
    def _in_transaction(self) -> SqliteTransactionContext:
        if not _immediate:
            return super()._in_transaction()
        return SqliteTransactionContext(ImmediateTransaction(self), self._lock)


class Unlocked:
    """`acquire_connection()` without a lock: opens the connection on first use."""

    __slots__ = ("client",)

    def __init__(self, client: SqliteReaderClient) -> None:
        self.client = client

    async def __aenter__(self):
        if not self.client._connection:
            await self.client.create_connection(with_db=True)
        return self.client._connection

    async def __aexit__(self, *exc: object) -> None:
        return None


class SqliteReaderClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        # A write routed here by mistake fails loudly instead of bypassing the writer.
        self.pragmas["query_only"] = "ON"
        self._opening = asyncio.Lock()

    async def create_connection(self, with_db: bool) -> None:
        async with self._opening:  # Concurrent first reads open one connection, not several.
            await super().create_connection(with_db)

    def acquire_connection(self):
        if not _unlocked:
            return super().acquire_connection()
        return Unlocked(self)

    def _in_transaction(self):
        raise TransactionManagementError(
            "the SQLite reader runs no transactions: use the default connection")


def install() -> None:
    """Checks that tortoise still has every name the clients above override or use (raises
    compat.CompatError), and reads PARAPHE_COMPAT_DISABLE. Idempotent."""
    global _checked, _immediate, _unlocked
    if not _checked:
        _check()
        _checked = True
    _immediate = not disabled("tortoise.sqlite_writer")
    _unlocked = not disabled("tortoise.sqlite_reader")


def _check() -> None:
    c = Checks("tortoise-orm", "1.1", "tortoise-orm", "compat/tortoise.py")
    c.uses(c.name(transactions, "in_transaction"), "_in_transaction")
    c.name(SqliteClient, "_in_transaction", ("self",))
    c.name(SqliteClient, "acquire_connection", ("self",))
    c.name(SqliteClient, "create_connection", ("self", "with_db"))
    c.uses(SqliteClient.__init__, "_connection", "_lock", "pragmas")
    c.name(SqliteTransactionContext, "__init__", ("self", "connection", "trxlock"))
    c.name(SqliteTransactionWrapper, "__init__", ("self", "connection"))
    c.name(SqliteTransactionWrapper, "begin", ("self",))
    c.uses(SqliteTransactionWrapper.__init__, "_connection")
    c.uses(MetaInfo.__init__, "basetable", "db_table")
    c.name(MetaInfo, "db")
    c.name(operations.RemoveField, "database_forward",
           ("self", "app_label", "old_state", "new_state", "state_editor"))
