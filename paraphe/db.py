"""Database wiring: the tortoise configuration, migrations, start and stop."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from paraphe.settings import Settings

APP = "models"


def tortoise_config(database_url: str) -> dict:
    """The tortoise configuration for one database URL (sqlite:// or postgres://)."""
    return {
        "connections": {"default": database_url},
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
    config = tortoise_config(settings.database_url)
    if migrate:
        await tortoise_migrate(config=config)
        await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    from workflows.evidence import ensure_head
    from workflows.terms import forget_cache

    forget_cache()  # A fresh database may reuse the cabinet ids the cache knows.
    await ensure_head()


async def close_database() -> None:
    await Tortoise.close_connections()
