"""Sweeps: expiry at the deadline and reminders, with the clock moved; claims never send twice."""

from __future__ import annotations

import asyncio

from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import billing, clock, collections, sweeps
from workflows.collections import SignerSpec
from workflows.errors import LinkExpiredError
from workflows.models import Collection, Notification

import pytest


async def _create(world, n=2, **kw):
    return await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec(f"S{i}", f"s{i}@example.test") for i in range(1, n + 1)], **kw)


async def test_expiry_at_deadline(world):
    collection = await _create(world)
    assert await sweeps.expire_due(world.svc) == 0
    clock.fast_forward(days=15, seconds=1)
    # Two instances sweeping at once end it once.
    counts = await asyncio.gather(sweeps.expire_due(world.svc), sweeps.expire_due(world.svc))
    assert sum(counts) == 1
    assert (await Collection.get(id=collection.id)).state == "expired"
    assert (await billing.summary(world.cabinet)).available == 100
    assert await Notification.filter(template="initiator/expired").count() == 1
    with pytest.raises(LinkExpiredError):
        await collections.send_code(world.svc, token_of(await link_of("s1@example.test")))


async def test_reminders_days_3_and_7_and_last_warning(world):
    await _create(world, expiry_days=15)
    assert await sweeps.remind_due(world.svc) == 0
    clock.fast_forward(days=3, minutes=1)
    counts = await asyncio.gather(sweeps.remind_due(world.svc), sweeps.remind_due(world.svc))
    assert sum(counts) == 2
    assert await sweeps.remind_due(world.svc) == 0
    clock.fast_forward(days=4)
    assert await sweeps.remind_due(world.svc) == 2
    clock.fast_forward(days=6)  # day 13: two days before the deadline
    assert await sweeps.remind_due(world.svc) == 2
    reminders = await Notification.filter(template="signer/reminder").order_by("id")
    assert len(reminders) == 6
    assert [r.context["last_warning"] for r in reminders[-2:]] == [True, True]
    assert await sweeps.remind_due(world.svc) == 0


async def test_manual_remind(world):
    collection = await _create(world)
    assert await collections.remind_collection(world.svc, world.actor(world.expert),
                                               collection.id) == 2
    assert await collections.remind_collection(world.svc, world.actor(world.expert),
                                               collection.id) == 0  # within the hour


async def test_finalize_sweep_finishes_what_a_crash_left(world, monkeypatch):
    from tests.workflows.collection_world import code_of
    from workflows.collections import finalisation

    collection = await _create(world, n=1)
    token = token_of(await link_of("s1@example.test"))
    await collections.send_code(world.svc, token)

    async def crashed(svc, collection_id):
        raise RuntimeError("the process died before finalising")

    monkeypatch.setattr(finalisation, "finalize", crashed)
    try:
        await collections.sign_with_code(world.svc, token, await code_of("s1@example.test"),
                                         consent=True, ip="127.0.0.1", user_agent="t")
    except RuntimeError:
        pass
    monkeypatch.undo()
    fresh = await Collection.get(id=collection.id)
    assert fresh.state == "completed" and fresh.finalized_at is None
    assert await sweeps.finalize_due(world.svc) == 1
    assert await sweeps.finalize_due(world.svc) == 0
    fresh = await Collection.get(id=collection.id)
    assert fresh.finalized_at is not None and fresh.report_pdf_id is not None
    assert await Notification.filter(template="initiator/completed").count() == 1
