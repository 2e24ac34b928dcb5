"""Database wiring: the tortoise configuration, migrations, start and stop."""

from __future__ import annotations

from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate

from paraphe import sqlite
from paraphe.settings import Settings

APP = "models"


async def _migrate(database_url: str) -> None:
    """Applies the migrations. On SQLite, with foreign keys off while they run, as SQLite's
    own procedure for altering a table says: tortoise rebuilds a table to change it, and
    dropping the old copy of a table other rows point at (document, person) would fail
    once the database holds data. The keys are checked once everything is applied."""
    on_sqlite = sqlite.is_file_url(database_url)
    url = database_url
    if on_sqlite:
        url += ("&" if "?" in url else "?") + "foreign_keys=OFF"
    try:
        await tortoise_migrate(config=tortoise_config(url))
        if on_sqlite:
            broken = await connections.get("default").execute_query_dict(
                "PRAGMA foreign_key_check")
            if broken:
                raise RuntimeError(f"migrations left rows pointing nowhere: {broken[:5]}")
    finally:
        await Tortoise.close_connections()


def tortoise_config(database_url: str, *, reader: bool = False) -> dict:
    """The tortoise configuration for one database URL (sqlite:// or postgres://).

    With `reader`, a SQLite file gets a second connection for reads outside
    transactions (see paraphe.sqlite); PostgreSQL already has its pool.
    """
    if reader and sqlite.is_file_url(database_url):
        extra = {"connections": sqlite.connections_for(database_url),
                 "routers": ["paraphe.sqlite.ReadRouter"]}
    else:
        extra = {"connections": {"default": database_url}}
    return {
        **extra,
        "apps": {
            APP: {
                # The transports' own tables (the gateway's spool rows, the bot's state)
                # live next to them, in the same app as the core's models.
                "models": ["workflows.models", "mail_gateway.models", "bot.models"],
                "migrations": "workflows.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(settings: Settings, *, migrate: bool = True) -> None:
    """Connects to the database and applies any migration not yet applied."""
    settings.ensure_home()
    _close_sqlite_files(settings.database_url)
    if migrate:
        await _migrate(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url, reader=True),
                        _enable_global_fallback=True)
    from workflows import caches
    from workflows.evidence import ensure_head
    from workflows.terms import forget_cache

    # A fresh database may reuse the ids the caches know.
    forget_cache()
    caches.forget_all()
    await ensure_head()


def _close_sqlite_files(database_url: str) -> None:
    """A database file made before the home was private (0644) becomes 0600, with its WAL
    and SHM: it holds people's addresses, phone numbers and the evidence log."""
    if not sqlite.is_file_url(database_url):
        return
    path = Path(expand_db_url(database_url)["credentials"]["file_path"])
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            pass


async def close_database() -> None:
    await Tortoise.close_connections()
