"""The SQLite writer connection: tortoise's client, with transactions that begin in one
round trip (``BEGIN IMMEDIATE``) instead of two (a COMMIT of nothing, then BEGIN)."""

from __future__ import annotations

import sqlite3

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


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
        return SqliteTransactionContext(ImmediateTransaction(self), self._lock)


client_class = SqliteWriterClient
