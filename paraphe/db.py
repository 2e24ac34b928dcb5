"""Database wiring: the tortoise configuration, migrations, start and stop."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from paraphe import sqlite
from paraphe.settings import Settings

APP = "models"


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
                "models": ["workflows.models"],
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
    if migrate:
        await tortoise_migrate(config=tortoise_config(settings.database_url))
        await Tortoise.close_connections()
    await Tortoise.init(config=tortoise_config(settings.database_url, reader=True),
                        _enable_global_fallback=True)
    from workflows.evidence import ensure_head
    from workflows.terms import forget_cache

    forget_cache()  # A fresh database may reuse the cabinet ids the cache knows.
    await ensure_head()


async def close_database() -> None:
    await Tortoise.close_connections()
