"""The warning before a collection's deadline: once, to the initiator and the experts."""

from __future__ import annotations

import asyncio

from tests.workflows.collection_world import pdf, world, world_settings  # noqa: F401 - fixtures
from workflows import clock, collections, linking, sweeps
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.models import Collection, Notification

TG = Actor(person_id=None, channel="telegram")


async def _launch(world, **kw) -> Collection:
    # Léa (launch) starts it; Anne is the cabinet's expert.
    return await collections.create_collection(
        world.svc, world.actor(world.launcher), cabinet="dupre",
        documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Jean Client", "jean@example.test"),
                 SignerSpec("Marie Client", "marie@example.test")], **kw)


async def _warnings() -> list[tuple[str, str, str]]:
    rows = await Notification.filter(dedup_key__contains="expiry_warning").order_by("id")
    return [(n.channel, n.template, n.recipient) for n in rows]


async def test_warned_once_three_days_before_the_deadline(world):
    await linking.link_account(TG, (await linking.link_code_for(world.launcher)).code, 4242)
    collection = await _launch(world)
    assert collection.state == "in_progress"
    clock.fast_forward(days=11, hours=23)  # 3 days and 1 hour before the deadline
    assert await sweeps.warn_expiring(world.svc) == 0
    clock.fast_forward(hours=2)
    # Two instances sweeping at once warn once.
    assert sum(await asyncio.gather(sweeps.warn_expiring(world.svc),
                                    sweeps.warn_expiring(world.svc))) == 1
    # The initiator and the expert, each once, on the channel the dispatcher picks when it
    # sends (the linked initiator's chat: tests/bot/test_notices.py). The collaborators:
    # nothing.
    assert await _warnings() == [
        ("person", "initiator/expiring", "launch@dupre.test"),
        ("person", "expert/collection_expiring", "expert@dupre.test")]
    assert [n.person_id for n in await Notification.filter(
        dedup_key__contains="expiry_warning").order_by("id")] == [world.launcher.id,
                                                                   world.expert.id]
    mail = await Notification.get(template="expert/collection_expiring")
    assert mail.context["pending"] == ["Jean Client", "Marie Client"]
    assert mail.context["initiator"] == "Léa Lance" and mail.context["name"] == "Anne Dupré"
    assert (await Collection.get(id=collection.id)).expiry_warned_at is not None
    clock.fast_forward(days=1)
    assert await sweeps.warn_expiring(world.svc) == 0
    assert len(await _warnings()) == 2
    # At the deadline it expires as before; nothing more is warned.
    clock.fast_forward(days=2)
    assert await sweeps.expire_due(world.svc) == 1
    assert await sweeps.warn_expiring(world.svc) == 0


async def test_setting_moves_the_warning_and_ended_collections_are_not_warned(world):
    world.svc.settings.expiry_warning_days = 5
    first = await _launch(world)
    second = await _launch(world)
    await collections.cancel_collection(world.svc, world.actor(world.launcher), second.id)
    clock.fast_forward(days=10, minutes=1)
    assert await sweeps.warn_expiring(world.svc) == 1
    assert {n.context["collection_id"] for n in await Notification.filter(
        dedup_key__contains="expiry_warning")} == {first.id}
