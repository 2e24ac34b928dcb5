"""/metrics of the real web app: what waits per channel and for how long, and the failures by
reason, read with prometheus_client's own parser as Prometheus would."""

from __future__ import annotations

import urllib.parse

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from paraphe import templating
from workflows import clock, notifications
from workflows.models import Notification


@pytest.fixture
async def metrics_url(settings, db):
    from web.app import build_app
    from workflows.services import Services

    svc = await Services.start(settings, templating)
    url = urllib.parse.urlsplit(settings.public_url)
    runner = aiohttp.web.AppRunner(build_app(svc), access_log=None)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, url.hostname, url.port).start()
    try:
        yield f"{settings.public_url}/metrics"
    finally:
        await runner.cleanup()
        await svc.close()


async def _scrape(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["paraphe_outbox_failed"].type == "counter"
    assert families["paraphe_outbox_pending"].type == "gauge"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in families.values() for s in family.samples}


async def _note(channel: str, n: int, state: str = "pending") -> Notification:
    row = await notifications.enqueue(channel=channel, template="sender/refused",
                                      recipient=f"someone{n}@dupont.fr" if channel == "mail"
                                      else f"+3361234567{n}", context={})
    if state != "pending":
        await Notification.filter(id=row.id).update(state=state)
    return await Notification.get(id=row.id)


async def test_metrics_show_the_queue_per_channel_and_failures_by_reason(metrics_url):
    await _note("mail", 1)
    clock.fast_forward(seconds=120)
    await _note("mail", 2)
    await _note("telegram", 3, state="sending")  # claimed, not sent yet: still waiting
    await _note("mail", 4, state="sent")
    for n in (5, 6):
        await notifications.mark_refused(await _note("mail", n), "mailbox_unknown", "550 5.1.1")
    await notifications.mark_refused(await _note("sms", 7), "sms_undeliverable", "absent")
    exhausted = await _note("telegram", 8)
    exhausted.attempts = len(notifications.BACKOFF) + 1
    assert not await notifications.mark_failed(exhausted, "TelegramNetworkError: timeout")

    samples = await _scrape(metrics_url)
    pending = {labels[0][1]: v for (name, labels), v in samples.items()
               if name == "paraphe_outbox_pending"}
    assert pending == {"mail": 2, "telegram": 1, "sms": 0, "webhook": 0}
    oldest = samples["paraphe_outbox_oldest_pending_seconds", (("channel", "mail"),)]
    assert 120 <= oldest < 180
    assert 0 <= samples["paraphe_outbox_oldest_pending_seconds", (("channel", "telegram"),)] < 60
    assert samples["paraphe_outbox_oldest_pending_seconds", (("channel", "sms"),)] == 0
    failed = {(dict(labels)["channel"], dict(labels)["reason"]): v
              for (name, labels), v in samples.items() if name == "paraphe_outbox_failed_total"}
    assert failed == {("mail", "mailbox_unknown"): 2, ("sms", "sms_undeliverable"): 1,
                      ("telegram", "retries_exhausted"): 1}
    # The older gauges are still there, now written by prometheus_client; sent notifications
    # (the bulk of the table) are no longer counted on each scrape.
    assert samples["paraphe_notifications", (("state", "sending"),)] == 1
    assert ("paraphe_notifications", (("state", "sent"),)) not in samples
    assert ("paraphe_evidence_events", ()) in samples

    # Once the mail went out, nothing of it waits.
    await Notification.filter(channel="mail", state="pending").update(state="sent")
    samples = await _scrape(metrics_url)
    assert samples["paraphe_outbox_pending", (("channel", "mail"),)] == 0
    assert samples["paraphe_outbox_oldest_pending_seconds", (("channel", "mail"),)] == 0
