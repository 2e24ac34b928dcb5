"""A collection's JSON tells, per signer, where their invitation stands: waiting to go out,
sent, or their address failed (so the cabinet calls the client for another one)."""

from __future__ import annotations

from tests.web.api.conftest import conforms
from tests.web.api.test_api_collections import _create
from workflows import clock, notifications
from workflows.delivery_state import invitation_key
from workflows.models import Notification, Signer


async def _read(api, collection_id: int) -> dict[str, str | None]:
    async with api.session.get(api.url(f"/collections/{collection_id}"),
                               headers=api.auth("readonly")) as r:
        body = await conforms(r, "/collections/{id}")
    return {s["email"]: s["invitation"] for s in body["signers"]}


async def _invitation(collection_id: int, email: str) -> Notification:
    signer = await Signer.get(collection_id=collection_id, email=email)
    return await Notification.get(dedup_key=invitation_key(collection_id, signer.id))


async def test_each_signer_shows_the_delivery_of_their_invitation(api):
    status, body, _ = await _create(api)
    assert status == 201, body
    cid = body["id"]
    assert {s["email"]: s["invitation"] for s in body["signers"]} == {
        "claire@client.test": "pending", "paul@client.test": "pending"}

    await notifications.mark_sent(await _invitation(cid, "claire@client.test"), "<m1@x>")
    await notifications.mark_refused(await _invitation(cid, "paul@client.test"),
                                     "mailbox_unknown", "550 5.1.1 user unknown")
    assert await _read(api, cid) == {"claire@client.test": "sent", "paul@client.test": "failed"}

    # A bounce after the relay took it (the signer is marked): failed too.
    await Signer.filter(collection_id=cid, email="claire@client.test").update(
        delivery_failed_at=clock.now(), delivery_failure="mailbox_full")
    assert await _read(api, cid) == {"claire@client.test": "failed",
                                     "paul@client.test": "failed"}


async def test_a_signer_whose_turn_has_not_come_is_not_invited_yet(api):
    status, body, _ = await _create(api, ordered="true")
    assert status == 201, body
    assert [s["invitation"] for s in body["signers"]] == ["pending", None]
