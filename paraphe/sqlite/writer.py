"""The SQLite writer connection (tortoise's engine module): tortoise's client, with
transactions that begin in one round trip (``BEGIN IMMEDIATE``) instead of two (a COMMIT of
nothing, then BEGIN). The client overrides tortoise's internals: it lives in compat.tortoise."""

from __future__ import annotations

from compat.tortoise import SqliteWriterClient

client_class = SqliteWriterClient
