"""Canaries of compat.tortoise: a SQLite file's writer and reader clients on the real path."""

from __future__ import annotations

import sqlite3

import pytest

from compat import tortoise as compat_tortoise
from tests.conftest import BACKEND
from workflows.models import Cabinet
from workflows.transactions import in_transaction

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the SQLite clients only")


def _database_file(settings) -> str:
    return settings.database_url.removeprefix("sqlite://")


async def test_a_transaction_takes_the_write_lock_when_it_begins(db, settings):
    """tortoise.sqlite_writer: `in_transaction()` begins with BEGIN IMMEDIATE."""
    other = sqlite3.connect(_database_file(settings), timeout=0, isolation_level=None)
    try:
        async with in_transaction() as conn:
            assert isinstance(conn, compat_tortoise.ImmediateTransaction)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # before this transaction wrote anything
    finally:
        other.close()


async def test_a_read_outside_a_transaction_takes_no_lock(db, monkeypatch):
    """tortoise.sqlite_reader: tortoise's queries on the reader take our lock-free wrapper."""
    entered = []
    original = compat_tortoise.Unlocked.__aenter__

    async def aenter(self):
        entered.append(self)
        return await original(self)

    monkeypatch.setattr(compat_tortoise.Unlocked, "__aenter__", aenter)
    assert await Cabinet.all().count() == 0
    assert entered
