"""Webhooks: a receiver on loopback checks the signature, sees retries, and the delivery log shows
them.

The receiver listens on 127.0.0.1, so these tests run with PARAPHE_WEBHOOK_ALLOW_PRIVATE=true
(tests/web/api/test_webhook_targets.py checks the refusals without it).
"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from tests.cli import paraphe
from web.webhook_delivery import WebhookWorker
from workflows import clock, evidence, people, webhooks
from workflows.actors import Actor
from workflows.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that answers `fail` times 500, then 204; records every call."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[dict, bytes]] = []
        self.runner = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if self.fail:
            self.fail -= 1
            return web.Response(status=500, text="down")
        return web.Response(status=204)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"webhook_allow_private": True})


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.runner.cleanup()


def _box(api) -> SecretBox:
    return SecretBox(api.svc.settings)


async def _add(api, url: str, **kwargs):
    return await webhooks.add_endpoint(Actor.operator(), cabinet="alpha", box=_box(api), url=url,
                                       targets=WebhookTargets.from_settings(api.svc.settings),
                                       **kwargs)


async def _launch_event(slug: str, collection_id: int = 7):
    cabinet = await people.get_cabinet(slug)
    await evidence.record("collection.launched", Actor.system(sweep="test"), cabinet_id=cabinet.id,
                          collection_id=collection_id,
                          data={"signers": 2, "origin": {"ip": "10.0.0.1"}, "otp_code": "1234"})


async def test_signed_delivery_that_receiver_verifies(api, receiver):
    created = await _add(api, receiver.url)
    other = await _add(api, receiver.url, events=["seal.*"])
    assert other.secret != created.secret
    await _launch_event("alpha")
    await _launch_event("beta")  # Another cabinet's events never reach alpha's endpoints.
    worker = WebhookWorker(api.svc)
    try:
        assert await worker.run_once() == ["delivered"]
    finally:
        await worker.stop()
    [(headers, body)] = receiver.calls
    assert webhooks.verify_signature(created.secret, headers["Paraphe-Signature"], body)
    assert not webhooks.verify_signature(other.secret, headers["Paraphe-Signature"], body)
    assert not webhooks.verify_signature(created.secret, headers["Paraphe-Signature"],
                                         body.replace(b"alpha", b"alphb"))
    event = json.loads(body)
    assert event["type"] == "collection.launched" and event["cabinet"] == "alpha"
    assert event["id"] == headers["Paraphe-Event-Id"] and event["id"].startswith("evt_")
    assert event["data"]["collection_id"] == 7 and event["data"]["signers"] == 2
    # How the person reached us and anything secret-looking stay inside.
    assert "origin" not in event["data"] and "otp_code" not in event["data"]


async def test_failures_are_retried_with_backoff_then_delivered(api, receiver):
    receiver.fail = 2
    created = await _add(api, receiver.url)
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc)
    try:
        assert await worker.run_once() == ["retry"]
        assert await worker.run_once() == []  # Not due yet: nothing sleeps, the clock decides.
        clock.fast_forward(seconds=31)
        assert await worker.run_once() == ["retry"]
        clock.fast_forward(seconds=60)
        assert await worker.run_once() == []  # The second wait is longer (exponential).
        clock.fast_forward(seconds=31)
        assert await worker.run_once() == ["delivered"]
    finally:
        await worker.stop()
    assert len(receiver.calls) == 3
    ids = {h["Paraphe-Event-Id"] for h, _ in receiver.calls}
    assert len(ids) == 1  # The same event id on every retry, so receivers can deduplicate.
    assert [h["Paraphe-Delivery-Attempt"] for h, _ in receiver.calls] == ["1", "2", "3"]
    for headers, body in receiver.calls:
        assert webhooks.verify_signature(created.secret, headers["Paraphe-Signature"], body)
    log = await WebhookDelivery.all().order_by("id")
    assert [(d.status_code, d.outcome) for d in log] == [
        (500, "retry"), (500, "retry"), (204, "delivered")]
    out = paraphe(api.svc.settings, "webhook", "deliveries", "alpha", "--json")
    assert out.code == 0, out.err
    assert [r["outcome"] for r in out.json()] == ["delivered", "retry", "retry"]


async def test_retries_stop_after_24_hours(api, receiver):
    receiver.fail = 10 ** 6
    await _add(api, receiver.url)
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc)
    outcomes = []
    try:
        for _ in range(40):
            outcomes += await worker.run_once()
            if outcomes and outcomes[-1] == "gave_up":
                break
            clock.fast_forward(hours=1)
    finally:
        await worker.stop()
    assert outcomes[-1] == "gave_up" and set(outcomes[:-1]) == {"retry"}
    first, last = (await WebhookDelivery.all().order_by("id"))[::len(outcomes) - 1]
    assert (last.at - first.at).total_seconds() >= 24 * 3600 - 1
    assert 5 <= len(outcomes) <= 30


async def test_unreachable_endpoint_is_logged_and_removed_endpoint_stops(api):
    created = await _add(api, "http://127.0.0.1:9/nothing-listens")
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc)
    try:
        assert await worker.run_once() == ["retry"]
        [delivery] = await WebhookDelivery.all()
        assert delivery.status_code is None and "Connect" in delivery.error
        await webhooks.remove_endpoint(Actor.operator(), cabinet="alpha",
                                       endpoint_id=created.endpoint.id)
        clock.fast_forward(minutes=5)
        assert await worker.run_once() == []
    finally:
        await worker.stop()
    assert await WebhookDelivery.all().count() == 1


async def test_only_events_after_registration_and_each_once(api, receiver):
    await _launch_event("alpha", collection_id=1)
    clock.fast_forward(seconds=1)
    await _add(api, receiver.url)
    await _launch_event("alpha", collection_id=2)
    worker = WebhookWorker(api.svc)
    try:
        await worker.run_once()
        await worker.run_once()
    finally:
        await worker.stop()
    assert [json.loads(b)["data"]["collection_id"] for _, b in receiver.calls] == [2]
    assert await WebhookEvent.all().count() == 1


def test_webhook_cli_add_list_remove(settings):
    assert paraphe(settings, "cabinet", "add", "gamma", "--name", "Gamma").code == 0
    added = paraphe(settings, "webhook", "add", "gamma", "https://erp.example/hooks",
                    "--events", "seal.*,collection.completed", "--json")
    assert added.code == 0, added.err
    info = added.json()
    assert info["secret"].startswith("whsec_") and info["events"] == ["seal.*",
                                                                       "collection.completed"]
    listed = paraphe(settings, "webhook", "list", "gamma", "--json")
    assert [r["url"] for r in listed.json()] == ["https://erp.example/hooks"]
    assert info["secret"] not in listed.out
    assert paraphe(settings, "webhook", "remove", "gamma", str(info["id"])).code == 0
    assert paraphe(settings, "webhook", "list", "gamma", "--json").json() == []
    bad = paraphe(settings, "webhook", "add", "gamma", "ftp://x", "--json")
    assert bad.code == 1 and "webhook URL" in bad.err


async def test_running_worker_delivers_an_api_seal(api, receiver):
    import asyncio

    from tests.pdfs import make_pdf
    from tests.web.api.conftest import pdf_form
    from web.webhook_delivery import start_webhook_worker

    created = await _add(api, receiver.url, events=["seal.*"])
    worker = await start_webhook_worker(api.svc, interval=0.05)
    try:
        async with api.session.post(api.url("/seals"), headers=api.auth(),
                                    data=pdf_form(make_pdf(text="hook"))) as r:
            sealed = await r.json()
            assert r.status == 201
        for _ in range(400):  # Wait for the delivery itself, not for a time.
            if receiver.calls:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    [(headers, body)] = receiver.calls
    assert webhooks.verify_signature(created.secret, headers["Paraphe-Signature"], body)
    event = json.loads(body)
    assert event["type"] == "seal.applied"
    assert event["data"]["sealed_sha256"] == sealed["sha256"]


async def test_the_database_never_holds_a_secret_in_clear(api, receiver, settings):
    from pydantic import SecretStr

    from workflows.errors import MasterKeyWrongError

    created = await _add(api, receiver.url)
    stored = (await WebhookEndpoint.get(id=created.endpoint.id)).secret
    assert stored.startswith("enc1:") and created.secret not in stored
    assert _box(api).open(stored) == created.secret
    # Under another master key the secret does not open (and says why).
    other = SecretBox(settings.model_copy(
        update={"master_key": SecretStr("another-master-key-" + "1" * 16)}))
    with pytest.raises(MasterKeyWrongError):
        other.open(stored)


async def test_a_secret_stored_in_clear_before_is_sealed_at_start(api, receiver):
    from web.webhook_delivery import start_webhook_worker

    created = await _add(api, receiver.url)
    # As an earlier version left it: the secret in clear.
    await WebhookEndpoint.filter(id=created.endpoint.id).update(secret=created.secret)
    worker = await start_webhook_worker(api.svc, interval=3600)
    await worker.stop()
    stored = (await WebhookEndpoint.get(id=created.endpoint.id)).secret
    assert stored.startswith("enc1:") and created.secret not in stored
    assert await webhooks.seal_stored_secrets(_box(api)) == 0  # Nothing left to seal.
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc)
    try:
        assert await worker.run_once() == ["delivered"]
    finally:
        await worker.stop()
    [(headers, body)] = receiver.calls
    assert webhooks.verify_signature(created.secret, headers["Paraphe-Signature"], body)
