"""When the SMS provider is down: the code's message is retried, and the signer page (the real
web app on loopback) says the SMS is delayed and offers the code by mail."""

from __future__ import annotations

import socket

from sms_gateway.sender import SmsSender
from sms_gateway.smpp import SmppProvider
from tests.dispatching import sms_dispatcher
from tests.web.signer_site import site  # noqa: F401 - fixture
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    world_settings,
)
from workflows import clock, collections, notifications
from workflows.collections import SignerSpec
from workflows.models import Notification


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_provider_down_retries_and_the_page_offers_mail(site):
    w = site.world
    await collections.create_collection(
        w.svc, w.actor(w.expert), cabinet="dupre", documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Claire Client", "claire@example.test", "+33611223344")])
    link = await link_of("claire@example.test")
    r = await site.session.post(link + "/code", data={"channel": "sms"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("?sent=sms")
    page = await (await site.session.get(link)).text()
    assert "retardé" not in page  # Not sent yet is not late.

    down = SmppProvider("127.0.0.1", _closed_port(), "paraphe", "secret", timeout=2)
    worker = sms_dispatcher(w.svc, SmsSender(w.svc.settings, down))
    assert await worker.run_once() == 0
    n = await Notification.get(channel="sms")
    assert n.state == "pending" and n.attempts == 1 and n.next_attempt_at > clock.now()
    assert "ConnectionError" in n.last_error and n.context["code"] != notifications.BLANK_CODE

    page = await (await site.session.get(link)).text()
    assert 'id="sms-delayed"' in page and "Le SMS est retardé" in page
    assert 'id="sms-delayed-mail"' in page and "Recevoir le code par e-mail" in page
    english = await (await site.session.get(link, headers={"Accept-Language": "en"})).text()
    assert "The text message is delayed" in english

    clock.fast_forward(seconds=31)  # The rate limit between two codes.
    r = await site.session.post(link + "/code", data={"channel": "mail"},
                                allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("?sent=mail")
    # The late SMS carries a dead code now: it is dropped, not sent, and the page moves on.
    n = await Notification.get(id=n.id)
    assert n.state == "failed" and n.context["code"] == notifications.BLANK_CODE
    assert 'id="sms-delayed"' not in await (await site.session.get(link)).text()
    r = await site.session.post(link + "/sign", data={
        "code": await code_of("claire@example.test"), "consent": "yes"}, allow_redirects=False)
    assert r.status == 303
    await worker.stop()
