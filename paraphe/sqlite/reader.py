"""The SQLite reader connection (tortoise's engine module): read-only, never locked by
asyncio, no transactions. The client overrides tortoise's internals: it lives in
compat.tortoise."""

from __future__ import annotations

from compat.tortoise import SqliteReaderClient

client_class = SqliteReaderClient
