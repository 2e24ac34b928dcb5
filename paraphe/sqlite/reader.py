"""The SQLite reader connection: read-only, never locked by asyncio, no transactions.

aiosqlite already runs one statement at a time in the connection's thread; tortoise's
lock on top makes each read wait for the previous one to come back through the event
loop. Without it, concurrent reads queue directly in that thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import TransactionManagementError


class _Unlocked:
    """`acquire_connection()` without a lock: opens the connection on first use."""

    __slots__ = ("client",)

    def __init__(self, client: SqliteReaderClient) -> None:
        self.client = client

    async def __aenter__(self):
        if not self.client._connection:
            await self.client.create_connection(with_db=True)
        return self.client._connection

    async def __aexit__(self, *exc: Any) -> None:
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

    def acquire_connection(self) -> _Unlocked:
        return _Unlocked(self)

    def _in_transaction(self):
        raise TransactionManagementError(
            "the SQLite reader runs no transactions: use the default connection")


client_class = SqliteReaderClient
