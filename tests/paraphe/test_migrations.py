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


async def test_migrations_from_empty_then_idempotent(settings, empty_database_url):
    settings = settings.model_copy(update={"database_url": empty_database_url})
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


async def test_document_names_move_to_the_collection_documents(settings):
    """A database of 0001 with named blobs: after 0002 each collection document keeps the
    name its blob had, and the blob has none."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    from paraphe.db import tortoise_config

    config = tortoise_config(settings.database_url)
    await migrate(config=config, target="models.0001_initial")
    conn = connections.get("default")
    now = "2026-01-01 00:00:00"
    for sql in (
        "INSERT INTO cabinet (id, slug, name, credit_balance, created_at)"
        f" VALUES (1, 'a', 'A', 0, '{now}')",
        f"INSERT INTO person (id, email, name, language, is_operator, mail_secret, created_at)"
        f" VALUES (1, 'p@a.test', 'P', 'fr', false, 's', '{now}')",
        "INSERT INTO document (id, sha256, size, filename, created_at)"
        f" VALUES (1, '{'a' * 64}', 3, 'lettre.pdf', '{now}')",
        "INSERT INTO collection (id, cabinet_id, created_by_id, state, ordered, title, message,"
        " channel, expiry_days, created_at)"
        f" VALUES (1, 1, 1, 'draft', false, 't', '', 'web', 15, '{now}')",
        "INSERT INTO collection_document (id, collection_id, position, original_id, version)"
        " VALUES (1, 1, 1, 1, 0)",
    ):
        await conn.execute_script(sql)
    await Tortoise.close_connections()
    await open_database(settings)
    try:
        from workflows.models import CollectionDocument, Document

        assert (await CollectionDocument.get(id=1)).filename == "lettre.pdf"
        assert "filename" not in Document._meta.fields_map
        assert (await Document.get(id=1).values("sha256", "size")) == {"sha256": "a" * 64,
                                                                        "size": 3}
    finally:
        await close_database()
