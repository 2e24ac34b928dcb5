"""The prepaid credit ledger: add, balance, debit, reserve, capture, release.

The available balance lives on the cabinet row and only moves through conditional
updates (``… WHERE credit_balance >= n``), so it never goes below zero even when
debits race; every move is journalled as a LedgerEntry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import F, Q
from tortoise.functions import Sum

from workflows import clock, credit_notices, evidence, observations
from workflows.caches import Cache
from workflows.actors import Actor
from workflows.errors import (
    CreditAmountInvalidError,
    CreditInsufficientError,
    ReservationClosedError,
)
from workflows.models import Cabinet, LedgerEntry, Reservation, Tariff
from workflows.transactions import atomic, in_transaction

OPERATIONS = ("seal", "signature")
DEFAULT_TARIFFS = {"seal": 1, "signature": 1}
# Prices by (cabinet id, operation): read on every seal and signature, emptied by any write
# to the tariff table (workflows.caches).
_PRICES = Cache("price", "tariffs")


def _check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise CreditAmountInvalidError(f"invalid amount {amount!r}: a positive whole number")
    return amount


async def price(cabinet: Cabinet, operation: str) -> int:
    """The price of one operation for this cabinet: its own tariff, else the platform's."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    async def read() -> int:
        # Both rows in one query: the cabinet's own (cabinet_id set) wins over the platform's.
        prices = dict(await Tariff.filter(Q(cabinet_id=cabinet.id) | Q(cabinet_id__isnull=True),
                                          operation=operation).values_list("cabinet_id",
                                                                           "price"))
        return prices.get(cabinet.id, prices.get(None, DEFAULT_TARIFFS[operation]))

    return await _PRICES.load((cabinet.id, operation), read)


async def set_tariff(cabinet: Cabinet | None, operation: str, amount: int) -> None:
    """Sets a cabinet's price for an operation, or the platform default when cabinet is None."""
    if operation not in OPERATIONS:
        raise CreditAmountInvalidError(f"unknown operation {operation!r}: seal or signature")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise CreditAmountInvalidError(f"invalid price {amount!r}")
    cabinet_id = cabinet.id if cabinet else None
    updated = await Tariff.filter(cabinet_id=cabinet_id, operation=operation).update(price=amount)
    if not updated:
        await Tariff.create(cabinet_id=cabinet_id, operation=operation, price=amount)


async def balance(cabinet: Cabinet) -> int:
    """Credit available now (what reservations hold is already taken out)."""
    return (await Cabinet.get(id=cabinet.id)).credit_balance


async def reserved(cabinet: Cabinet) -> int:
    """Credit held by open reservations."""
    row = await (Reservation.filter(cabinet_id=cabinet.id, state="open")
                 .annotate(total=Sum("remaining")).values("total"))
    return int(row[0]["total"] or 0) if row else 0


async def _journal(cabinet_id: int, kind: str, amount: int, *, balance_after: int | None = None,
                   operation: str = "", reference: str = "",
                   reservation_id: int | None = None) -> LedgerEntry:
    if balance_after is None:
        balance_after = await Cabinet.get(id=cabinet_id).values_list("credit_balance", flat=True)
    return await LedgerEntry.create(cabinet_id=cabinet_id, kind=kind, amount=amount,
                                    balance_after=balance_after, operation=operation,
                                    reference=reference[:128], reservation_id=reservation_id,
                                    at=clock.now())


async def add_credit(actor: Actor, cabinet: Cabinet, amount: int, *, reference: str = "") -> int:
    """Adds prepaid credit; returns the new balance. Raises CreditAmountInvalidError."""
    _check_amount(amount)
    async with in_transaction():
        entry = await _journal(cabinet.id, "credit", amount, reference=reference,
                               balance_after=await _move(cabinet.id, amount))
        await evidence.record("credit.added", actor, cabinet_id=cabinet.id,
                              data={"amount": amount, "balance": entry.balance_after,
                                    "reference": reference})
    return entry.balance_after


async def _move(cabinet_id: int, delta: int) -> int | None:
    """Adds `delta` (negative to take) to the available balance in one statement and
    returns the balance after it, or None when taking would go below zero.

    UPDATE … RETURNING (SQLite ≥ 3.35, PostgreSQL) saves reading the balance back: this
    runs in every seal's and signature's transaction.
    """
    table = Cabinet._meta.basetable
    db = Cabinet._meta.db  # The caller's transaction when there is one.
    query = (db.query_class.update(table)
             .set(table.credit_balance, table.credit_balance + int(delta))
             .where(table.id == int(cabinet_id))
             .returning(table.credit_balance))
    if delta < 0:
        query = query.where(table.credit_balance >= -int(delta))
    rows = await db.execute_query_dict(query.get_sql())
    return rows[0]["credit_balance"] if rows else None


async def _take(cabinet_id: int, amount: int) -> int:
    """Takes `amount` from the available balance; returns the balance left."""
    left = await _move(cabinet_id, -amount)
    if left is None:
        await _refuse(cabinet_id, amount)
    return left


async def _refuse(cabinet_id: int, amount: int) -> None:
    """Raises CreditInsufficientError naming the balance (a debit of `amount` found it short)."""
    available = await Cabinet.get(id=cabinet_id).values_list("credit_balance", flat=True)
    observations.emit("credit_refused")
    raise CreditInsufficientError(
        f"not enough credit: {amount} needed, {available} available",
        needed=amount, available=available)


async def _warn_if_low(entry: LedgerEntry, threshold: int | None) -> None:
    # The journal holds the balance after this move alone (the conditional update locked the
    # row), so before/after tell exactly whether this move is the one that crossed.
    if credit_notices.crossed(entry.balance_after - entry.amount, entry.balance_after, threshold):
        await credit_notices.low_credit(entry.cabinet_id, balance=entry.balance_after,
                                        threshold=threshold, entry_id=entry.id)


async def lock_balance(cabinet_id: int) -> None:
    """Takes the cabinet's row (its balance) until the caller's transaction ends.

    Every transaction that moves a balance and records evidence takes the cabinet's row
    before the evidence log's head, as a seal does (its debit, then its evidence): in the
    other order, two such transactions of one cabinet deadlock on PostgreSQL, one holding
    the head and waiting for the row, the other the reverse. A transaction that records
    evidence before it reserves, captures or releases calls this first.
    """
    await _move(cabinet_id, 0)


async def debit(cabinet: Cabinet, amount: int, *, operation: str, reference: str = "",
                low_credit_threshold: int | None = None) -> int:
    """Takes `amount` from the available balance at once; returns the balance left.

    Call it inside the use case's transaction. Raises CreditInsufficientError (and
    nothing is taken) when the balance is short. When the debit takes the balance
    below `low_credit_threshold`, the cabinet's experts get a low-credit notice.
    """
    _check_amount(amount)
    async with atomic():
        entry = await _take_and_journal(cabinet.id, amount, operation, reference)
        if entry is None:
            entry = await _journal(cabinet.id, "debit", -amount, operation=operation,
                                   reference=reference,
                                   balance_after=await _take(cabinet.id, amount))
        await _warn_if_low(entry, low_credit_threshold)
    return entry.balance_after


# PostgreSQL takes the credit and journals it in one statement (a data-modifying WITH);
# SQLite has none, and runs the two.
_DEBIT_PG = (
    'WITH moved AS (UPDATE "cabinet" SET "credit_balance"="credit_balance"-$1::bigint '
    'WHERE "id"=$2::integer AND "credit_balance">=$1::bigint RETURNING "credit_balance") '
    'INSERT INTO "ledger_entry" ("kind","amount","balance_after","operation","reference","at",'
    '"cabinet_id","reservation_id") SELECT \'debit\',-$1::bigint,"credit_balance",$3::text,'
    '$4::text,$5::timestamptz,$2::integer,NULL FROM moved RETURNING "id","balance_after"')


async def _take_and_journal(cabinet_id: int, amount: int, operation: str,
                            reference: str) -> LedgerEntry | None:
    """On PostgreSQL, the debit and its journal entry in one statement; raises
    CreditInsufficientError when the balance is short. None elsewhere (do it in two)."""
    db = LedgerEntry._meta.db  # The caller's transaction when there is one.
    if db.capabilities.dialect != "postgres":
        return None
    at = clock.now()
    rows = await db.execute_query_dict(
        _DEBIT_PG, [int(amount), int(cabinet_id), operation, reference[:128], at])
    if not rows:
        await _refuse(cabinet_id, amount)
    entry = LedgerEntry(cabinet_id=cabinet_id, kind="debit", amount=-amount,
                        balance_after=rows[0]["balance_after"], operation=operation,
                        reference=reference[:128], reservation_id=None, at=at)
    entry.id = rows[0]["id"]
    entry._saved_in_db = True
    return entry


async def reserve(cabinet: Cabinet, amount: int, *, reference: str = "",
                  low_credit_threshold: int | None = None) -> Reservation:
    """Holds `amount` for later captures (a collection at launch). Raises CreditInsufficientError.

    Like a debit, a reservation that takes the balance below `low_credit_threshold`
    gives the cabinet's experts a low-credit notice.
    """
    _check_amount(amount)
    async with atomic():
        left = await _take(cabinet.id, amount)
        reservation = await Reservation.create(cabinet_id=cabinet.id, amount=amount,
                                               remaining=amount, reference=reference[:128],
                                               created_at=clock.now())
        entry = await _journal(cabinet.id, "reserve", -amount, reference=reference,
                               balance_after=left, reservation_id=reservation.id)
        await _warn_if_low(entry, low_credit_threshold)
    return reservation


async def capture(reservation: Reservation, amount: int, *, operation: str,
                  reference: str = "") -> None:
    """Consumes part of a reservation (one signature made).

    The available balance does not move (the reservation already took it); the
    journal entry has amount 0. Raises ReservationClosedError or
    CreditInsufficientError when the reservation holds less than `amount`.
    """
    _check_amount(amount)
    async with atomic():
        done = await (Reservation.filter(id=reservation.id, state="open", remaining__gte=amount)
                      .update(remaining=F("remaining") - amount))
        if done != 1:
            fresh = await Reservation.get(id=reservation.id)
            if fresh.state != "open":
                raise ReservationClosedError(f"reservation {reservation.id} is closed")
            raise CreditInsufficientError(
                f"reservation {reservation.id} holds {fresh.remaining}, {amount} needed")
        await _journal(reservation.cabinet_id, "capture", 0, operation=operation,
                       reference=reference, reservation_id=reservation.id)


async def release(reservation: Reservation, *, reference: str = "") -> int:
    """Closes a reservation and gives back what it still holds; returns that amount.

    Releasing an already closed reservation gives back nothing (idempotent).
    """
    async with atomic():
        fresh = await Reservation.select_for_update().get(id=reservation.id)
        closed = await Reservation.filter(id=reservation.id, state="open").update(
            state="closed", closed_at=clock.now())
        if closed != 1:
            return 0
        back = fresh.remaining
        left = None
        if back:
            left = await _move(fresh.cabinet_id, back)
            await Reservation.filter(id=reservation.id).update(remaining=0)
        await _journal(fresh.cabinet_id, "release", back, reference=reference,
                       balance_after=left, reservation_id=reservation.id)
    return back


@dataclass(frozen=True)
class CreditSummary:
    cabinet: str
    available: int
    reserved: int
    tariffs: dict[str, int]


async def summary(cabinet: Cabinet) -> CreditSummary:
    return CreditSummary(
        cabinet=cabinet.slug,
        available=await balance(cabinet),
        reserved=await reserved(cabinet),
        tariffs={op: await price(cabinet, op) for op in OPERATIONS},
    )
