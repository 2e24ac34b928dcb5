"""Transactions on the default connection; a use case's steps join its transaction.

Always open transactions with this module's `in_transaction()`: on a SQLite file the
database has two connections (paraphe.sqlite), and tortoise's own needs to be told
which one. Reads outside a transaction may go to the reader and see only what is
committed; reads inside one see the transaction's own writes.
"""

from __future__ import annotations

import contextlib

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.transactions import in_transaction as _tortoise_in_transaction

DEFAULT = "default"


def in_transaction() -> TransactionContext:
    """A new transaction (a savepoint inside another) on the default connection."""
    return _tortoise_in_transaction(DEFAULT)


def in_transaction_now() -> bool:
    """True when this task runs inside a transaction."""
    return isinstance(connections.get(DEFAULT), TransactionalDBClient)


def atomic():
    """The caller's transaction when one is open, else a new one (an async context manager).

    A step such as a debit or an evidence event must be atomic on its own; inside a use
    case's transaction, tortoise's nested `in_transaction()` would add a savepoint (two more
    round trips) for nothing, since the step's errors roll the whole use case back.
    """
    if in_transaction_now():
        return contextlib.nullcontext()
    return in_transaction()
