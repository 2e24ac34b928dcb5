"""The evidence chain's head sealed by the TSA, and `paraphe audit verify` catching a cut or
recomputed chain."""

from __future__ import annotations

import base64
import json

import pytest

from paraphe import templating
from tests.cli import paraphe
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import anchors, clock, collections, evidence, sweeps
from workflows.actors import Actor
from workflows.collections import SignerSpec
from workflows.models import Collection, Document, EvidenceAnchor, EvidenceEvent, EvidenceHead
from workflows.services import Services


@pytest.fixture
async def svc(settings, db):
    services = await Services.start(settings, templating)
    yield services
    await services.close()


async def _fill(n: int) -> None:
    for i in range(n):
        clock.fast_forward(seconds=1)
        await evidence.record("test.event", Actor(None, "cli"), cabinet_id=1, data={"n": i})


async def _recompute_from(seq: int, data: dict) -> None:
    """What someone who can write the database does: rewrite an event, then every hash after it."""
    prev = (await EvidenceEvent.get(seq=seq - 1)).hash if seq > 1 else evidence.GENESIS
    for ev in await EvidenceEvent.filter(seq__gte=seq).order_by("seq"):
        if ev.seq == seq:
            ev.data = data
        digest = evidence.event_hash(seq=ev.seq, at=ev.at, kind=ev.kind, channel=ev.channel,
                                     cabinet_id=ev.cabinet_id, person_id=ev.person_id,
                                     collection_id=ev.collection_id, data=ev.data, prev_hash=prev)
        await EvidenceEvent.filter(id=ev.id).update(data=ev.data, prev_hash=prev, hash=digest)
        prev = digest
    await EvidenceHead.filter(id=evidence.HEAD_ID).update(hash=prev)


def _audit(settings):
    result = paraphe(settings, "audit", "verify")
    lines = result.out.strip().splitlines()
    assert len(lines) == 1, result.out + result.err  # One line, whatever the outcome.
    return result.code, lines[0]


async def test_the_sweep_anchors_only_when_the_head_moved(svc):
    assert await sweeps.anchor_evidence(svc) == 0  # An empty chain: nothing to vouch for.
    await _fill(3)
    assert await sweeps.anchor_evidence(svc) == 1
    assert await sweeps.anchor_evidence(svc) == 0  # Same head: no second token.
    clock.fast_forward(minutes=5)
    assert await sweeps.anchor_evidence(svc) == 0
    await _fill(2)
    assert await sweeps.anchor_evidence(svc) == 1
    rows = await EvidenceAnchor.all().order_by("seq")
    assert [a.seq for a in rows] == [3, 5]
    roots = svc.trust.trust_roots()
    for anchor in rows:
        event = await EvidenceEvent.get(seq=anchor.seq)
        assert anchor.hash == event.hash
        assert await anchors.token_problem(bytes(anchor.token), anchor.hash, roots) is None
    # A token says nothing for another hash.
    other = (await EvidenceEvent.get(seq=1)).hash
    assert await anchors.token_problem(bytes(rows[0].token), other, roots) == (
        "its timestamp token is over another hash")
    assert sweeps.SCHEDULE["anchor_evidence"] <= 600


async def test_anchors_come_from_the_configured_tsa(svc, settings):
    from tests.web.trust_server import serving_trust

    await _fill(2)
    svc.settings = settings.model_copy(update={"tsa_url": settings.public_url + "/tsa"})
    # Nothing answers there yet: the next run retries.
    assert await sweeps.anchor_evidence(svc) == 0
    assert await EvidenceAnchor.all().count() == 0
    async with serving_trust(svc.trust):  # The platform's TSA, reached over HTTP.
        assert await sweeps.anchor_evidence(svc) == 1
    assert _audit(settings) == (0, "evidence chain intact: 2 events, 1 timestamp anchor(s) "
                                   "verified")


async def test_an_intact_chain_with_anchors_passes(svc, settings):
    await _fill(3)
    await sweeps.anchor_evidence(svc)
    await _fill(2)
    await sweeps.anchor_evidence(svc)
    await _fill(1)  # Events after the last anchor are fine: the next sweep covers them.
    code, line = _audit(settings)
    assert code == 0, line
    assert line == "evidence chain intact: 6 events, 2 timestamp anchor(s) verified"


async def test_a_chain_cut_at_its_tail_is_reported(svc, settings):
    await _fill(6)
    await sweeps.anchor_evidence(svc)
    # Events 5 and 6 removed, and the head row moved back to match: the chain itself holds.
    await EvidenceEvent.filter(seq__gte=5).delete()
    await EvidenceHead.filter(id=evidence.HEAD_ID).update(
        seq=4, hash=(await EvidenceEvent.get(seq=4)).hash)
    assert (await evidence.verify_chain()).ok  # What `audit verify` saw before the anchors.
    code, line = _audit(settings)
    assert code == 1
    assert line.startswith("evidence chain BROKEN at event 5: tail cut: the chain ends at "
                           "event 4 but event 6 was timestamped on ")


async def test_a_recomputed_chain_is_reported(svc, settings):
    await _fill(3)
    await sweeps.anchor_evidence(svc)
    await _fill(3)
    await sweeps.anchor_evidence(svc)
    await _recompute_from(5, {"n": 99, "forged": True})
    assert (await evidence.verify_chain()).ok  # Every link and hash holds again…
    code, line = _audit(settings)
    assert code == 1  # …but event 6 is no longer what the TSA signed.
    assert line.startswith("evidence chain BROKEN at event 6: chain rewritten: event 6 no "
                           "longer has the hash timestamped on ")
    # Rewriting the anchor's hash too does not help: the token is over the old one.
    await EvidenceAnchor.filter(seq=6).update(hash=(await EvidenceEvent.get(seq=6)).hash)
    code, line = _audit(settings)
    assert code == 1
    assert line == ("evidence chain BROKEN at event 6: the anchor of event 6: its timestamp "
                    "token is over another hash")


async def test_a_damaged_token_is_reported(svc, settings):
    for _ in range(3):
        await _fill(2)
        await sweeps.anchor_evidence(svc)
    assert _audit(settings) == (0, "evidence chain intact: 6 events, 3 timestamp anchor(s) "
                                   "verified")
    # The first token of a TSA certificate has its path validated, the next ones only their
    # signature: a damaged signature is caught either way.
    for seq in (4, 2):
        anchor = await EvidenceAnchor.get(seq=seq)
        token = bytearray(anchor.token)
        token[-40] ^= 0x01  # One bit of the TSA's signature.
        await EvidenceAnchor.filter(id=anchor.id).update(token=bytes(token))
        assert _audit(settings) == (1, f"evidence chain BROKEN at event {seq}: the anchor of "
                                       f"event {seq}: the signature of its timestamp token "
                                       f"does not verify")


async def test_the_report_of_a_completed_collection_names_the_anchored_head(world):
    svc = world.svc
    collection = await collections.create_collection(
        svc, world.actor(world.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Client 1", "client1@example.test")])
    token = token_of(await link_of("client1@example.test"))
    await collections.send_code(svc, token, "mail")
    await collections.sign_with_code(svc, token, await code_of("client1@example.test"),
                                     consent=True, ip="127.0.0.1", user_agent="pytest")
    done = await Collection.get(id=collection.id)
    assert done.finalized_at is not None
    report = json.loads(await svc.documents.read(
        (await Document.get(id=done.report_json_id)).sha256))
    chain = report["evidence_chain"]
    # The head at completion: after every event the report lists, and sealed by the TSA.
    assert chain["head_seq"] >= max(e["seq"] for e in report["events"])
    assert (await EvidenceEvent.get(seq=chain["head_seq"])).hash == chain["head_hash"]
    anchor = await EvidenceAnchor.get(seq=chain["head_seq"])
    assert base64.b64decode(chain["anchor"]["timestamp_token"]) == bytes(anchor.token)
    assert await anchors.token_problem(bytes(anchor.token), chain["head_hash"],
                                       svc.trust.trust_roots()) is None
