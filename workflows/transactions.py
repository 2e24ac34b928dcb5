"""Transactions on the default connection; a use case's steps join its transaction.

Always open transactions with this module's `in_transaction()`: on a SQLite file the
database has two connections (paraphe.sqlite), and tortoise's own needs to be told
which one. Reads outside a transaction may go to the reader and see only what is
committed; reads inside one see the transaction's own writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.transactions import in_transaction as _tortoise_in_transaction

DEFAULT = "default"


def in_transaction() -> _Transaction:
    """A new transaction (a savepoint inside another) on the default connection."""
    return _Transaction(_tortoise_in_transaction(DEFAULT))


class _Transaction:
    """tortoise's transaction context; the outermost one also runs, when it ends, what
    `after_transaction` registered inside it (workflows.caches forgets what it wrote)."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: TransactionContext) -> None:
        self._context = context
        self._token = None

    async def __aenter__(self):
        connection = await self._context.__aenter__()
        if _pending.get() is None:
            self._token = _pending.set([])
        return connection

    async def __aexit__(self, *exc_info):
        try:
            return await self._context.__aexit__(*exc_info)
        finally:
            if self._token is not None:
                callbacks = _pending.get() or []
                _pending.reset(self._token)
                for callback in callbacks:
                    callback()


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


# Callbacks to run when the outermost transaction of this task ends (committed or not).
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("paraphe_after_transaction",
                                                                  default=None)


def after_transaction(callback: Callable[[], None]) -> None:
    """Runs `callback` when the current outermost transaction ends, whether it commits or
    rolls back; does nothing outside a transaction opened by this module."""
    pending = _pending.get()
    if pending is not None:
        pending.append(callback)
