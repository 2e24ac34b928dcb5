"""Transactions that move a cabinet's balance and record evidence take the balance first, as a
seal does: a launch or an approval running while a seal of the same cabinet holds its
balance waits for it instead of deadlocking (seen with three instances under load, issue 19:
PostgreSQL's "deadlock detected" failed an API seal with a 500 and a collect@ mail)."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import BACKEND
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    OP,
    pdf,
    world,
    world_settings,
)
from workflows import billing, collections, evidence
from workflows.collections import SignerSpec
from workflows.models import LedgerEntry
from workflows.transactions import in_transaction

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="row locks and deadlocks are PostgreSQL's; SQLite writes one "
    "transaction at a time")


async def _seal_shaped(world, holding: asyncio.Event) -> None:
    """A seal's transaction (sealing.seal_document): the debit, then the evidence; it holds
    the balance for a moment while the other use case runs."""
    async with in_transaction():
        await billing.debit(world.cabinet, 1, operation="seal", reference="racing seal")
        holding.set()
        await asyncio.sleep(1.5)  # Longer than PostgreSQL's deadlock_timeout (1 s).
        await evidence.record("seal.applied", OP, cabinet_id=world.cabinet.id,
                              data={"racing": True})


async def _launch(world):
    return await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=[SignerSpec("Client", "client@example.test")])


async def test_a_launch_waits_for_a_seal_holding_the_balance(world):
    holding = asyncio.Event()

    async def launch_meanwhile():
        await holding.wait()
        return await _launch(world)

    _, collection = await asyncio.gather(_seal_shaped(world, holding), launch_meanwhile())
    assert collection.state == "in_progress"
    assert await LedgerEntry.filter(kind="reserve").count() == 1


async def test_an_approval_waits_for_a_seal_holding_the_balance(world):
    prepared = await collections.create_collection(
        world.svc, world.actor(world.preparer), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=[SignerSpec("Client", "client@example.test")])
    assert prepared.state == "awaiting_approval"
    holding = asyncio.Event()

    async def approve_meanwhile():
        await holding.wait()
        return await collections.approve_collection(world.svc, world.actor(world.expert),
                                                    prepared.id)

    _, collection = await asyncio.gather(_seal_shaped(world, holding), approve_meanwhile())
    assert collection.state == "in_progress"
    assert await LedgerEntry.filter(kind="reserve").count() == 1
