"""Shared fixtures: a throwaway PARAPHE_HOME and database per test, on SQLite or PostgreSQL.

PARAPHE_TEST_DATABASE=sqlite (default) or postgres selects the backend;
PARAPHE_TEST_PG_URL points at the server (default postgres://postgres@127.0.0.1:5432/test).
Each test gets its own database: on PostgreSQL cloned from a migrated template database, on
SQLite a copy of a migrated file.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

import compat
from paraphe.settings import Settings
from workflows import clock

# As every entry point does: the overrides of dependencies' internals, checked (and
# PARAPHE_COMPAT_DISABLE read, which tests/compat's canaries notice).
compat.install_all()

BACKEND = os.environ.get("PARAPHE_TEST_DATABASE", "sqlite")
PG_URL = os.environ.get("PARAPHE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def require_tool(name: str) -> str:
    """Returns the path of a command-line tool; fails in CI, skips elsewhere, when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    if IN_CI:
        pytest.fail(f"{name} is required in CI but is not installed")
    pytest.skip(f"{name} is not installed")


def _pg_base() -> str:
    return PG_URL.rsplit("/", 1)[0]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


_TEMPLATE = f"paraphe_tpl_{os.getpid()}_{secrets.token_hex(3)}"
_template_ready = False


async def _ensure_pg_template() -> None:
    global _template_ready
    if _template_ready:
        return
    from paraphe.db import close_database, open_database

    await _pg_admin(f'CREATE DATABASE "{_TEMPLATE}"')
    tpl_settings = Settings(home="/tmp", database_url=f"{_pg_base()}/{_TEMPLATE}")
    await open_database(tpl_settings)
    await close_database()
    _template_ready = True


_sqlite_template_path: Path | None = None


async def _sqlite_template() -> Path:
    global _sqlite_template_path
    if _sqlite_template_path is None:
        from paraphe.db import close_database, open_database

        folder = Path(tempfile.mkdtemp(prefix="paraphe-tpl-"))
        await open_database(Settings(home=folder, database_url=f"sqlite://{folder / 'tpl.db'}"))
        await close_database()
        _sqlite_template_path = folder / "tpl.db"
    return _sqlite_template_path


def pytest_sessionfinish(session, exitstatus):
    if _sqlite_template_path is not None:
        shutil.rmtree(_sqlite_template_path.parent, ignore_errors=True)
    if BACKEND == "postgres" and _template_ready:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)'))


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
async def database_url(home):
    if BACKEND == "postgres":
        await _ensure_pg_template()
        name = f"paraphe_t_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
        yield f"{_pg_base()}/{name}"
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        # Migrating from nothing takes seconds on SQLite: each test gets a copy of a file
        # migrated once per run (opening it then finds every migration applied).
        shutil.copyfile(await _sqlite_template(), home / "paraphe.sqlite3")
        yield f"sqlite://{home / 'paraphe.sqlite3'}"


@pytest.fixture
async def empty_database_url(tmp_path):
    """A database with no table at all, for the tests of the migrations themselves."""
    if BACKEND == "postgres":
        name = f"paraphe_m_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        yield f"{_pg_base()}/{name}"
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite://{tmp_path / 'empty.sqlite3'}"


@pytest.fixture
def settings(home, database_url, monkeypatch):
    """Settings on a fresh home and database; the environment cannot leak in."""
    for key in list(os.environ):
        # PARAPHE_COMPAT_DISABLE is no setting: the signing workers must see it too.
        if key.startswith("PARAPHE_") and not key.startswith(("PARAPHE_TEST_",
                                                              compat.DISABLE_ENV)):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PARAPHE_CONFIG", str(home / "absent.toml"))
    # A free loopback port as public URL: certificates name their OCSP responder there, and a
    # test that runs pdfsig serves the trust endpoints on it (tests/web/trust_server.py).
    from tests.web.trust_server import free_public_url

    s = Settings(home=home, database_url=database_url, master_key="test-master-key-" + "0" * 16,
                 public_url=free_public_url())
    s.ensure_home()
    return s


@pytest.fixture
async def db(settings):
    """An open, migrated database for one test."""
    from paraphe.db import close_database, open_database

    await open_database(settings)
    yield
    await close_database()


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()
