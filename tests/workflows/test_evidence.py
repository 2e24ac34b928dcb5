"""The evidence log's hash chain, and tampering caught by `verify_chain`."""

import json

import pytest
from tortoise import connections

from workflows import clock, evidence
from workflows.actors import Actor
from workflows.models import EvidenceEvent, EvidenceHead
from workflows.transactions import in_transaction


async def _fill(n=5):
    for i in range(n):
        await evidence.record("test.event", Actor(None, "cli", {"i": i}), cabinet_id=1,
                              data={"n": i, "text": "é"})


async def test_chain_links_each_event_to_the_previous(db):
    await _fill()
    events = await EvidenceEvent.all().order_by("seq")
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == evidence.GENESIS
    for prev, ev in zip(events, events[1:], strict=False):
        assert ev.prev_hash == prev.hash
    report = await evidence.verify_chain()
    assert report.ok and report.events == 5


async def test_edited_row_is_caught(db):
    await _fill()
    victim = await EvidenceEvent.get(seq=3)
    tampered = json.dumps({**victim.data, "n": 99})
    conn = connections.get("default")
    await conn.execute_query(
        "UPDATE evidence_event SET data = " + ("$1 WHERE id = $2" if conn.capabilities.dialect
                                                == "postgres" else "? WHERE id = ?"),
        [tampered, victim.id])
    report = await evidence.verify_chain()
    assert not report.ok
    assert report.broken_seq == 3
    assert "hash" in report.reason


async def test_deleted_row_is_caught(db):
    await _fill()
    await EvidenceEvent.filter(seq=2).delete()
    report = await evidence.verify_chain()
    assert not report.ok and report.broken_seq == 3


async def test_truncated_tail_is_caught(db):
    await _fill()
    await EvidenceEvent.filter(seq=5).delete()
    report = await evidence.verify_chain()
    assert not report.ok and "head" in report.reason


async def test_an_event_joins_the_callers_transaction_and_rolls_back_with_it(db):
    await _fill(2)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with in_transaction():
            await evidence.record("test.event", Actor(None, "cli"), data={"n": 99})
            raise Abandoned()
    await _fill(1)  # The chain goes on from the last committed event.
    assert [e.seq for e in await EvidenceEvent.all().order_by("seq")] == [1, 2, 3]
    assert (await evidence.verify_chain()).ok


async def test_the_chain_goes_on_from_an_event_another_process_appended(db):
    await _fill(2)
    # Another process (the CLI, say) appends event 3: this process's last head is now stale.
    head = await EvidenceHead.get(id=evidence.HEAD_ID)
    at = clock.now()
    digest = evidence.event_hash(seq=3, at=at, kind="other.process", channel="cli",
                                 cabinet_id=None, person_id=None, collection_id=None, data={},
                                 prev_hash=head.hash)
    await EvidenceEvent.create(seq=3, at=at, kind="other.process", channel="cli", data={},
                               prev_hash=head.hash, hash=digest)
    await EvidenceHead.filter(id=evidence.HEAD_ID).update(seq=3, hash=digest)
    await _fill(1)
    events = await EvidenceEvent.all().order_by("seq")
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[3].prev_hash == digest
    assert (await evidence.verify_chain()).ok
