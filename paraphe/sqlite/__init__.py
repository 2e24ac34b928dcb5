"""SQLite with one writer and one reader connection, in WAL mode.

Tortoise gives a SQLite database one connection guarded by one asyncio lock: every
query, and every transaction from BEGIN to COMMIT, waits for the one before it, and
each hand-over costs a turn of the event loop. Under concurrent requests the reads
of one request queue behind the transactions of the others.

WAL lets readers run beside the writer, so a SQLite file gets two connections:

- ``default`` (`writer`): writes and transactions, as before; a transaction begins
  with ``BEGIN IMMEDIATE``, one round trip that also takes SQLite's write lock at once.
- ``read`` (`reader`): reads made outside any transaction. They see what is committed,
  as reads on PostgreSQL's pool do; the connection is ``query_only`` and not locked,
  so reads queue straight into its thread.

`ReadRouter` sends each query to one of them. Reads inside a transaction stay on the
transaction's connection, so a use case always reads its own writes.
"""

from __future__ import annotations

from tortoise.backends.base.config_generator import expand_db_url

from workflows.transactions import DEFAULT, in_transaction_now

WRITER = DEFAULT
READER = "read"


def is_file_url(database_url: str) -> bool:
    """True for a SQLite database in a file (an in-memory one cannot be opened twice)."""
    return database_url.startswith("sqlite://") and ":memory:" not in database_url


def connections_for(database_url: str) -> dict[str, dict]:
    """Tortoise's `connections` for a SQLite file: the writer and the reader."""
    found = {}
    for name, engine in ((WRITER, "paraphe.sqlite.writer"), (READER, "paraphe.sqlite.reader")):
        info = expand_db_url(database_url)
        info["engine"] = engine
        found[name] = info
    return found


class ReadRouter:
    """Reads outside a transaction go to the reader; everything else to the writer."""

    def db_for_read(self, model) -> str:
        if in_transaction_now():
            return WRITER  # The transaction's own connection (a context variable).
        return READER

    def db_for_write(self, model) -> str:
        return WRITER
