"""The credit ledger: never below zero, even when debits race; reservations give back the rest."""

import asyncio

import pytest

from workflows import billing, people
from workflows.actors import Actor
from workflows.errors import CreditAmountInvalidError, CreditInsufficientError
from workflows.models import LedgerEntry

OP = Actor.operator()


@pytest.fixture
async def cabinet(db):
    return await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")


async def test_add_and_debit(cabinet):
    assert await billing.add_credit(OP, cabinet, 5) == 5
    assert await billing.debit(cabinet, 2, operation="seal") == 3
    with pytest.raises(CreditInsufficientError) as info:
        await billing.debit(cabinet, 4, operation="seal")
    assert info.value.details == {"needed": 4, "available": 3}
    assert await billing.balance(cabinet) == 3
    entries = await LedgerEntry.filter(cabinet_id=cabinet.id).order_by("id")
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        ("credit", 5, 5), ("debit", -2, 3)]


@pytest.mark.parametrize("amount", [0, -3])
async def test_non_positive_amounts_are_refused(cabinet, amount):
    with pytest.raises(CreditAmountInvalidError):
        await billing.add_credit(OP, cabinet, amount)
    assert await billing.balance(cabinet) == 0


async def test_two_debits_racing_for_the_last_credit(cabinet):
    await billing.add_credit(OP, cabinet, 1)
    results = await asyncio.gather(
        billing.debit(cabinet, 1, operation="seal", reference="a"),
        billing.debit(cabinet, 1, operation="seal", reference="b"),
        return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["CreditInsufficientError", "int"]
    assert await billing.balance(cabinet) == 0
    assert await LedgerEntry.filter(cabinet_id=cabinet.id, kind="debit").count() == 1


async def test_many_concurrent_debits_never_overdraw(cabinet):
    await billing.add_credit(OP, cabinet, 7)
    results = await asyncio.gather(
        *(billing.debit(cabinet, 1, operation="seal", reference=str(i)) for i in range(20)),
        return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 7
    assert await billing.balance(cabinet) == 0


async def test_reservation_capture_and_release(cabinet):
    await billing.add_credit(OP, cabinet, 10)
    reservation = await billing.reserve(cabinet, 3, reference="collection 1")
    assert await billing.balance(cabinet) == 7
    assert await billing.reserved(cabinet) == 3
    await billing.capture(reservation, 1, operation="signature", reference="signer 1")
    assert await billing.balance(cabinet) == 7
    assert await billing.release(reservation) == 2
    assert await billing.release(reservation) == 0  # idempotent
    assert await billing.balance(cabinet) == 9
    assert await billing.reserved(cabinet) == 0


async def test_reservation_refused_without_credit(cabinet):
    await billing.add_credit(OP, cabinet, 2)
    with pytest.raises(CreditInsufficientError):
        await billing.reserve(cabinet, 3)
    assert await billing.balance(cabinet) == 2


async def test_tariffs_per_cabinet_with_platform_default(cabinet):
    assert await billing.price(cabinet, "seal") == 1
    await billing.set_tariff(None, "signature", 3)
    assert await billing.price(cabinet, "signature") == 3
    await billing.set_tariff(cabinet, "signature", 2)
    assert await billing.price(cabinet, "signature") == 2
    other = await people.create_cabinet(OP, slug="martin", name="Martin")
    assert await billing.price(other, "signature") == 3
