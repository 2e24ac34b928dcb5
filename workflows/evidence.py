"""The append-only evidence log: each event holds the SHA-256 of the one before it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.actors import Actor
from workflows.models import EvidenceEvent, EvidenceHead
from workflows.transactions import atomic

GENESIS = "0" * 64
HEAD_ID = 1


def canonical(value: Any) -> bytes:
    """The one encoding hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def timestamp_text(at: datetime) -> str:
    """The form of an event's time its hash covers: UTC, microseconds, a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(*, seq: int, at: datetime, kind: str, channel: str, cabinet_id: int | None,
               person_id: int | None, collection_id: int | None, data: Any,
               prev_hash: str) -> str:
    body = {
        "seq": seq, "at": timestamp_text(at), "kind": kind, "channel": channel,
        "cabinet_id": cabinet_id, "person_id": person_id, "collection_id": collection_id,
        "data": data, "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


async def ensure_head() -> None:
    """Creates the chain's head row once; safe to call from several processes."""
    if await EvidenceHead.exists(id=HEAD_ID):
        return
    try:
        await EvidenceHead.create(id=HEAD_ID, seq=0, hash=GENESIS)
    except IntegrityError:
        pass


async def record(kind: str, actor: Actor, *, data: dict | None = None,
                 cabinet_id: int | None = None, person_id: int | None = None,
                 collection_id: int | None = None) -> EvidenceEvent:
    """Appends one event to the chain, inside the caller's transaction when there is one.

    The actor's person and channel and what the channel knows (`actor.origin`) are
    kept with the event's data.
    """
    payload = dict(data or {})
    payload.setdefault("actor", actor.person_id)
    if actor.origin:
        payload.setdefault("origin", actor.origin)
    # Round-trip through JSON so that what is hashed is exactly what the database gives back.
    payload = json.loads(canonical(payload))
    at = clock.now()

    def next_after(prev: tuple[int, str]) -> dict:
        row = dict(seq=prev[0] + 1, at=at, kind=kind, channel=actor.channel,
                   cabinet_id=cabinet_id, person_id=person_id, collection_id=collection_id,
                   data=payload, prev_hash=prev[1])
        return {**row, "hash": event_hash(**row)}

    async with atomic():
        # Move the head from the one this process last wrote, in one statement whose
        # condition checks that guess. When another process (or a rolled-back
        # transaction) moved it since, nothing matches: lock and read the real head.
        event = await _append(next_after(_last_head))
        if event is None:
            head = await EvidenceHead.select_for_update().get(id=HEAD_ID)
            event = await _append(next_after((head.seq, head.hash)))
            if event is None:  # Cannot happen under the row lock: a guard.
                raise RuntimeError("evidence head moved during append")
    _remember(event.seq, event.hash)
    return event


# PostgreSQL moves the head and inserts the event in one statement (a data-modifying WITH,
# the insert made only when the head matched); SQLite has none, and runs the two.
_APPEND_PG = (
    'WITH head AS (UPDATE "evidence_head" SET "seq"=$1::bigint,"hash"=$2::text '
    'WHERE "id"=$3::integer AND "seq"=$1::bigint-1 AND "hash"=$4::text RETURNING "seq") '
    'INSERT INTO "evidence_event" ("seq","at","kind","channel","cabinet_id","person_id",'
    '"collection_id","data","prev_hash","hash") SELECT "seq",$5::timestamptz,$6::text,$7::text,'
    '$8::integer,$9::integer,$10::integer,$11::jsonb,$4::text,$2::text FROM head RETURNING "id"')


async def _append(row: dict) -> EvidenceEvent | None:
    """Moves the head to `row` and inserts it, when the head is still at the event `row`
    follows; None (nothing written) when it moved."""
    db = EvidenceEvent._meta.db  # The caller's transaction.
    if db.capabilities.dialect != "postgres":
        if not await _advance((row["seq"] - 1, row["prev_hash"]), row["hash"]):
            return None
        return await EvidenceEvent.create(**row)
    data = EvidenceEvent._meta.fields_map["data"].to_db_value(row["data"], None)
    found = await db.execute_query_dict(_APPEND_PG, [
        row["seq"], row["hash"], HEAD_ID, row["prev_hash"], row["at"], row["kind"],
        row["channel"], row["cabinet_id"], row["person_id"], row["collection_id"], data])
    if not found:
        return None
    event = EvidenceEvent(**row)
    event.id = found[0]["id"]
    event._saved_in_db = True
    return event


# The head as this process last moved it: a guess that `_advance` verifies in the database.
_last_head: tuple[int, str] = (0, GENESIS)


def _remember(seq: int, digest: str) -> None:
    global _last_head
    _last_head = (seq, digest)


async def _advance(prev: tuple[int, str], digest: str) -> bool:
    """Moves the head from exactly `prev` (seq and hash) to the next event; the UPDATE
    locks the row until commit, so no other append can link to the same event."""
    seq, prev_hash = prev
    return await EvidenceHead.filter(id=HEAD_ID, seq=seq, hash=prev_hash).update(
        seq=seq + 1, hash=digest) == 1


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""
    anchors: int = 0  # timestamp anchors checked (workflows.anchors)


async def verify_chain(batch: int = 1000) -> ChainReport:
    """Walks the whole chain and names the first event whose hash or link does not hold."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_id = 0
    while True:
        rows = await EvidenceEvent.filter(id__gt=last_id).order_by("id").limit(batch)
        if not rows:
            break
        for ev in rows:
            last_id = ev.id
            count += 1
            if ev.seq != expected_seq:
                return ChainReport(False, count, ev.seq, ev.id,
                                   f"sequence gap: expected {expected_seq}, found {ev.seq}")
            if ev.prev_hash != prev:
                return ChainReport(False, count, ev.seq, ev.id, "link to previous event broken")
            digest = event_hash(seq=ev.seq, at=ev.at, kind=ev.kind, channel=ev.channel,
                                cabinet_id=ev.cabinet_id, person_id=ev.person_id,
                                collection_id=ev.collection_id, data=ev.data,
                                prev_hash=ev.prev_hash)
            if digest != ev.hash:
                return ChainReport(False, count, ev.seq, ev.id, "content does not match its hash")
            prev = ev.hash
            expected_seq += 1
    head = await EvidenceHead.get_or_none(id=HEAD_ID)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return ChainReport(False, count, expected_seq, None,
                           f"chain ends at event {expected_seq - 1} but its head says {head.seq}")
    return ChainReport(True, count)


async def events_for(*, collection_id: int | None = None, cabinet_id: int | None = None) -> list:
    query = EvidenceEvent.all()
    if collection_id is not None:
        query = query.filter(collection_id=collection_id)
    if cabinet_id is not None:
        query = query.filter(cabinet_id=cabinet_id)
    return await query.order_by("seq")
