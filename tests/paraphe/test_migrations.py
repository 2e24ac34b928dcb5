"""Migrations applied from an empty database, and again as a no-op, on either backend."""

from tortoise import connections

from paraphe.db import close_database, open_database

TABLES = {"cabinet", "person", "membership", "delegation", "document", "collection",
          "collection_document", "signer", "ledger_entry", "reservation", "evidence_event",
          "evidence_head", "notification", "certificate", "tariff", "terms_acceptance",
          "operation"}


async def _tables() -> set[str]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    else:
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    return {r["name"] for r in rows}


async def test_migrations_from_empty_then_idempotent(settings):
    await open_database(settings)
    try:
        assert TABLES <= await _tables()
    finally:
        await close_database()
    await open_database(settings)  # a second start applies nothing and does not fail
    try:
        assert TABLES <= await _tables()
    finally:
        await close_database()
