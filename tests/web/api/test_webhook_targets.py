"""At each delivery the webhook's host is resolved once, every address checked, and that address
used."""

from __future__ import annotations

from tests.cli import paraphe
from tests.fakes.dns import FakeHosts
from tests.web.api.test_api_webhooks import Receiver, _launch_event
from web.webhook_delivery import WebhookWorker
from workflows import clock, webhooks
from workflows.actors import Actor
from workflows.models import WebhookDelivery
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets


async def _add(api, url: str, targets: WebhookTargets):
    return await webhooks.add_endpoint(Actor.operator(), cabinet="alpha", url=url,
                                       box=SecretBox(api.svc.settings), targets=targets)


async def test_a_name_that_turns_private_after_it_was_added_is_refused_at_delivery(api):
    receiver = await Receiver().start()
    port = receiver.url.split(":")[2].split("/")[0]
    dns = FakeHosts()
    dns.set("hooks.erp.example", "93.184.216.34")  # Public when the endpoint is added…
    await _add(api, f"http://hooks.erp.example:{port}/hook",
               WebhookTargets.from_settings(api.svc.settings, dns))
    dns.set("hooks.erp.example", "127.0.0.1")  # …then rebound to loopback, where a receiver is.
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc, resolve=dns)
    try:
        assert await worker.run_once() == ["retry"]
        clock.fast_forward(minutes=1)
        dns.set("hooks.erp.example", "93.184.216.34", "::1")  # One bad address is enough.
        assert await worker.run_once() == ["retry"]
    finally:
        await worker.stop()
        await receiver.runner.cleanup()
    assert receiver.calls == []  # Nothing reached the loopback receiver.
    first, second = await WebhookDelivery.all().order_by("id")
    assert first.status_code is None and not first.ok and first.outcome == "retry"
    assert first.error.startswith(
        "webhook target refused: hooks.erp.example resolves to 127.0.0.1, which is a loopback "
        "address")
    assert "resolves to ::1, which is a loopback address" in second.error
    out = paraphe(api.svc.settings, "webhook", "deliveries", "alpha", "--json")
    assert out.code == 0, out.err
    assert [r["error"] for r in out.json()] == [second.error, first.error]


async def test_an_ip_literal_is_checked_at_delivery_too(api):
    receiver = await Receiver().start()
    # Added while private targets were allowed; the running service no longer allows them.
    await _add(api, receiver.url, WebhookTargets(allow_private=True))
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc)
    try:
        assert await worker.run_once() == ["retry"]
    finally:
        await worker.stop()
        await receiver.runner.cleanup()
    assert receiver.calls == []
    [delivery] = await WebhookDelivery.all()
    assert delivery.error.startswith("webhook target refused: 127.0.0.1 is a loopback address")


async def test_the_connection_goes_to_the_address_that_was_checked(api):
    # With private targets allowed, a name only the fake DNS knows reaches the loopback
    # receiver: aiohttp connected to the address the checked resolution gave, not to a
    # resolution of its own (the system resolver cannot resolve this name).
    allowed = api.svc.settings.model_copy(update={"webhook_allow_private": True})
    api.svc.settings = allowed
    receiver = await Receiver().start()
    port = receiver.url.split(":")[2].split("/")[0]
    dns = FakeHosts()
    dns.set("hooks.erp.example", "127.0.0.1")
    await _add(api, f"http://hooks.erp.example:{port}/hook",
               WebhookTargets.from_settings(allowed, dns))
    await _launch_event("alpha")
    worker = WebhookWorker(api.svc, resolve=dns)
    try:
        assert await worker.run_once() == ["delivered"]
    finally:
        await worker.stop()
        await receiver.runner.cleanup()
    [(headers, _)] = receiver.calls
    assert headers["Host"] == f"hooks.erp.example:{port}"
    assert dns.queries.count("hooks.erp.example") == 2  # Once when added, once to deliver.
