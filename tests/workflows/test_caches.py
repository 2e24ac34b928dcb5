"""workflows.caches: bounded, emptied by any write to a topic's tables, never keeping what a
write raced or what a transaction had not committed yet."""

from __future__ import annotations

import asyncio

import pytest

from tests.workflows.collection_world import (  # noqa: F401 - world_settings: a fixture
    make_services, pdf, seed, world_settings)
from workflows import billing, caches, delegations, lookups, people, sealing
from workflows.actors import Actor
from workflows.trust import ca, profiles
from workflows.models import Delegation, Membership, Tariff
from workflows.transactions import in_transaction

OP = Actor.operator()


@pytest.fixture
async def firm(db):
    cab = await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")
    collab, _ = await people.add_person(OP, email="collab@dupont.fr", name="C", cabinet="dupont",
                                        role="collaborator")
    await delegations.grant(OP, collab, cab, "seal")
    membership = await Membership.get(person_id=collab.id, cabinet_id=cab.id)
    return cab, collab, membership


async def _value(v):
    return v


async def test_a_cache_keeps_at_most_its_size_least_recently_used_out_first():
    cache = caches.Cache("test bounded", "people", size=3)
    for key in range(3):
        await cache.load(key, lambda key=key: _value(key))
    assert cache.get(0) == 0  # 0 is now the most recently used.
    for key in range(3, 10):
        await cache.load(key, lambda key=key: _value(key))
        assert len(cache) <= 3
    assert [cache.get(k) is caches.MISS for k in (0, 7, 8, 9)] == [True, False, False, False]


async def test_entries_expire_after_the_ttl(monkeypatch):
    cache = caches.Cache("test ttl", "tariffs")
    now = [1000.0]
    monkeypatch.setattr(caches.time, "monotonic", lambda: now[0])
    await cache.load("k", lambda: _value(1))
    now[0] += caches.TTL - 0.01
    assert cache.get("k") == 1
    now[0] += 0.02
    assert cache.get("k") is caches.MISS


@pytest.mark.parametrize(("statement", "topic"), [
    ('INSERT INTO "delegation" ("membership_id","action") VALUES (?,?)', "people"),
    ('DELETE FROM "delegation" WHERE "membership_id"=? AND "action"=?', "people"),
    ('UPDATE "api_key" SET "revoked_at"=? WHERE "id"=? AND "revoked_at" IS NULL', "people"),
    ('UPDATE "person" SET "mail_secret_generation"=? WHERE "id"=?', "people"),
    ('UPDATE "cabinet" SET "name"=?,"siren"=? WHERE "id"=?', "people"),
    ('UPDATE "cabinet" SET "credit_balance"="credit_balance"+-1 WHERE "id"=1 AND '
     '"credit_balance">=1 RETURNING "cabinet"."credit_balance"', None),
    ('UPDATE "cabinet" SET "credit_balance"=?,"name"=? WHERE "id"=?', "people"),
    ('update "tariff" set "price"=? where "cabinet_id"=?', "tariffs"),
    ('UPDATE "certificate" SET "revoked_at"=?,"revocation_reason"=? WHERE "id"=?',
     "certificates"),
    ('SELECT 1 FROM "delegation" WHERE "membership_id"=?', None),
    ('INSERT INTO "evidence_event" ("seq") VALUES (?)', None),
])
def test_which_writes_invalidate(statement, topic):
    assert caches.topic_of(statement) == topic


async def test_any_writer_empties_the_topic_not_only_the_use_cases(firm):
    cab, collab, membership = firm
    assert await lookups.holds(membership.id, "seal") is True
    assert await billing.price(cab, "seal") == 1
    # Plain ORM writes, as a CLI command or a page might make them.
    await Delegation.filter(membership_id=membership.id).delete()
    await Tariff.create(cabinet_id=cab.id, operation="seal", price=3)
    assert await lookups.holds(membership.id, "seal") is False
    assert await billing.price(cab, "seal") == 3
    assert await delegations.may(collab, cab, "seal") is False


async def test_a_read_raced_by_a_write_is_not_kept(firm):
    _, _, membership = firm

    async def read_then_someone_revokes():
        held = await Delegation.exists(membership_id=membership.id, action="seal")
        await Delegation.filter(membership_id=membership.id).delete()
        return held

    cache = caches.Cache("test race", "people")
    assert await cache.load("k", read_then_someone_revokes) is True
    assert cache.get("k") is caches.MISS


async def test_a_read_during_a_transaction_that_revokes_is_forgotten_at_its_end(firm):
    """On SQLite another task's read goes to the reader connection and sees the committed
    row until the writer commits: kept then, it would outlive the revocation."""
    _, _, membership = firm
    go = asyncio.Event()

    async def other_request():  # Started outside the transaction, as another request is.
        await go.wait()
        return await lookups.holds(membership.id, "seal")

    task = asyncio.create_task(other_request())
    async with in_transaction():
        await Delegation.filter(membership_id=membership.id).delete()
        go.set()
        # The writer's transaction holds SQLite's writer only: the reader answers meanwhile,
        # with the row as committed.
        assert await asyncio.wait_for(task, 10) is True
    assert await lookups.holds(membership.id, "seal") is False


async def test_a_rolled_back_write_does_not_leave_what_it_saw(firm):
    cab, collab, membership = firm
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await Delegation.filter(membership_id=membership.id).delete()
            assert await lookups.holds(membership.id, "seal") is False  # Its own write.
            raise RuntimeError("rolled back")
    assert await lookups.holds(membership.id, "seal") is True
    assert await delegations.may(collab, cab, "seal") is True


async def test_a_none_not_to_keep_is_looked_up_again():
    cache = caches.Cache("test none", "certificates")
    answers = [None, "issued"]

    async def read():
        return answers.pop(0)

    assert await cache.load("k", read, keep_none=False) is None
    assert cache.get("k") is caches.MISS
    assert await cache.load("k", read, keep_none=False) == "issued"
    assert cache.get("k") == "issued"


async def test_the_first_seals_of_a_new_cabinet_at_once_all_succeed(db, world_settings):
    """Its seal certificate does not exist yet: one caller issues it, the others wait for it
    and find it (none may be served a cached "none yet")."""
    svc = await make_services(world_settings)
    try:
        w = await seed(svc)
        fresh = await people.create_cabinet(OP, slug="neuf", name="Cabinet Neuf",
                                            siren="732829320")
        callers = []
        for _ in range(8):  # Arriving one after the other while the first one issues.
            callers.append(asyncio.create_task(svc.trust.seal_key_for(fresh)))
            await asyncio.sleep(0.005)
        found = await asyncio.gather(*callers, return_exceptions=True)
        assert [r for r in found if isinstance(r, BaseException)] == []
        assert len({cert.serial for cert, _ in found}) == 1
        # A caller finding a "none yet" its peer read just before issuing (the race seen
        # under load) looks again rather than take None for a certificate.
        other = await people.create_cabinet(OP, slug="autre2", name="Cabinet Deux",
                                            siren="443061841")
        key = (other.id, profiles.seal_subject(other.name, other.siren).rfc4514_string()[:512])
        ca._SEAL_CERTIFICATES.put(key, None, caches._generations["certificates"])
        cert, _ = await svc.trust.seal_key_for(other)
        assert cert.cabinet_id == other.id
        results = await asyncio.gather(*(
            sealing.seal_document(svc, w.actor(w.expert, channel="api"), cabinet="dupre",
                                  filename=f"f{i}.pdf", data=pdf(f"F{i}"))
            for i in range(4)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert len({r.certificate_serial for r in results}) == 1
    finally:
        svc.engine.close()
