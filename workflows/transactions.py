"""Transactions that join the caller's: a use case commits once, its steps add no savepoints."""

from __future__ import annotations

import contextlib

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction


def atomic():
    """The caller's transaction when one is open, else a new one (an async context manager).

    A step such as a debit or an evidence event must be atomic on its own; inside a use
    case's transaction, tortoise's nested `in_transaction()` would add a savepoint (two more
    round trips) for nothing, since the step's errors roll the whole use case back.
    """
    if isinstance(connections.get("default"), TransactionalDBClient):
        return contextlib.nullcontext()
    return in_transaction()
