"""A SQLite file: reads outside transactions on their own connection, writes on the other."""

import asyncio
import sqlite3

import pytest
from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import OperationalError, TransactionManagementError

from paraphe.db import close_database, open_database
from paraphe.settings import Settings
from workflows import clock
from workflows.models import Cabinet
from workflows.transactions import in_transaction


@pytest.fixture
async def sqlite_db(tmp_path):
    """A SQLite file database, whatever backend the rest of the suite runs on."""
    settings = Settings(home=tmp_path, database_url=f"sqlite://{tmp_path / 'p.sqlite3'}",
                        master_key="test-master-key-" + "0" * 16)
    # Tortoise keeps each model's INSERT statement per connection name for the life of the
    # process; on the PostgreSQL pass, forget those built for the other dialect.
    EXECUTOR_CACHE.clear()
    await open_database(settings)
    yield tmp_path / "p.sqlite3"
    await close_database()
    EXECUTOR_CACHE.clear()


async def test_a_read_does_not_wait_for_another_tasks_transaction(sqlite_db):
    cab = await Cabinet.create(slug="dupont", name="Dupont", credit_balance=10,
                               created_at=clock.now())
    written, release = asyncio.Event(), asyncio.Event()
    seen_inside = []

    async def long_transaction():
        async with in_transaction():
            await Cabinet.filter(id=cab.id).update(credit_balance=7)
            seen_inside.append((await Cabinet.get(id=cab.id)).credit_balance)
            written.set()
            await release.wait()

    task = asyncio.create_task(long_transaction())
    await written.wait()
    # The transaction is open and holds the writer: a read elsewhere answers at once,
    # with what is committed.
    outside = await asyncio.wait_for(Cabinet.get(id=cab.id), timeout=2)
    assert outside.credit_balance == 10
    assert seen_inside == [7]  # The transaction reads its own write.
    release.set()
    await task
    assert (await Cabinet.get(id=cab.id)).credit_balance == 7


async def test_the_reader_refuses_writes_and_transactions(sqlite_db):
    reader = connections.get("read")
    with pytest.raises(OperationalError, match="readonly"):
        await reader.execute_query("UPDATE cabinet SET credit_balance = 1")
    with pytest.raises(TransactionManagementError):
        async with reader._in_transaction():
            pass


async def test_a_transaction_holds_the_write_lock_from_its_start(sqlite_db):
    await Cabinet.create(slug="dupont", name="Dupont", created_at=clock.now())
    other = sqlite3.connect(sqlite_db, timeout=0)
    try:
        async with in_transaction():
            await Cabinet.get(slug="dupont")  # Only a read so far.
            # Another process cannot write in between: the transaction cannot later fail
            # half-way because the database changed under it.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE cabinet SET name = 'x'")
        other.execute("UPDATE cabinet SET name = 'Dupont SA'")
        other.commit()
    finally:
        other.close()
    assert (await Cabinet.get(slug="dupont")).name == "Dupont SA"
