"""Octopush's HTTP API against a local stand-in that checks each request as Octopush's
documentation describes it (https://dev.octopush.com/en/sms-gateway-api-documentation/send-sms/)
and answers as Octopush does."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web

from paraphe.settings import Settings
from sms_gateway.octopush import OctopushProvider
from sms_gateway.sender import SmsSender, build_provider
from tests.dispatching import sms_dispatcher
from workflows import notifications
from workflows.models import Notification

LOGIN, KEY = "cabinet@example.test", "k3y-0f-test"
TICKET = {"sms_ticket": "sms_5fec89fe97109", "number_of_contacts": 1, "total_cost": 0.0333,
          "number_of_sms_needed": 1, "residual_credit": 99.5}


class StandIn:
    """Answers POST /v1/public/sms-campaign/send with `answer` after checking the request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer: tuple[int, dict] = (200, TICKET)

    async def send(self, request: web.Request) -> web.Response:
        assert request.method == "POST"
        assert request.headers["Content-Type"].startswith("application/json")
        body = json.loads((await request.read()).decode("utf-8"))
        self.requests.append({"headers": dict(request.headers), "body": body})
        assert request.headers["api-login"] == LOGIN and request.headers["api-key"] == KEY
        # Every field the documentation names for a transactional SMS, and no other.
        assert set(body) <= {"text", "recipients", "type", "sender", "send_at", "purpose",
                             "with_replies", "simulation_mode", "request_id",
                             "auto_optimize_text", "auto_remove_blacklisted_numbers"}
        assert 1 <= len(body["text"]) <= 1224
        assert body["type"] in ("sms_premium", "sms_low_cost")
        assert body["purpose"] in ("alert", "wholesale")
        assert 3 <= len(body["sender"]) <= 11 and body["sender"].isalnum()
        assert all(r["phone_number"].startswith("+") for r in body["recipients"])
        status, payload = self.answer
        return web.json_response(payload, status=status)


@pytest.fixture
async def stand_in():
    state = StandIn()
    app = web.Application()
    app.router.add_post("/v1/public/sms-campaign/send", state.send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/public"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def provider(stand_in):
    p = OctopushProvider(LOGIN, KEY, sender="Paraphe", base_url=stand_in.base)
    try:
        yield p
    finally:
        await p.close()


async def test_request_is_the_documented_one(stand_in, provider):
    ref = await provider.send("+33611223344", "Paraphe : votre code est 123456.",
                              request_id="paraphe-7")
    assert ref == "sms_5fec89fe97109"
    [sent] = stand_in.requests
    assert sent["body"] == {"text": "Paraphe : votre code est 123456.",
                            "recipients": [{"phone_number": "+33611223344"}],
                            "type": "sms_premium", "purpose": "alert", "sender": "Paraphe",
                            "request_id": "paraphe-7"}
    assert sent["headers"]["api-login"] == LOGIN and sent["headers"]["api-key"] == KEY


async def test_wrong_number_is_refused_for_good(stand_in, provider):
    stand_in.answer = (400, {"code": 117, "message": "Your recipient list contains no correct "
                                                     "numbers"})
    with pytest.raises(notifications.DeliveryRefused) as info:
        await provider.send("+33611223344", "Paraphe : test")
    assert info.value.reason == "sms_undeliverable" and "117" in info.value.text


@pytest.mark.parametrize("answer", [(500, {"message": "internal"}),
                                    (400, {"code": 104, "message": "out of credit"}),
                                    (401, {"code": 101, "message": "Incorrect login details"})])
async def test_other_refusals_are_retried(stand_in, provider, answer):
    stand_in.answer = answer
    with pytest.raises(RuntimeError):
        await provider.send("+33611223344", "Paraphe : test")


async def test_the_worker_sends_through_octopush_and_retries(db, settings, stand_in):
    configured = Settings(**{**settings.model_dump(), "sms_provider": "octopush",
                             "octopush_api_login": LOGIN, "octopush_api_key": KEY,
                             "octopush_base_url": stand_in.base, "sms_sender": "Paraphe"})
    provider = build_provider(configured)
    assert isinstance(provider, OctopushProvider)

    class Svc:
        settings = configured
    worker = sms_dispatcher(Svc(), SmsSender(configured, provider))
    n = await notifications.enqueue(channel="sms", template="registrant/mobile_code",
                                    recipient="+33611223344",
                                    context={"code": "424242", "minutes": 10})
    stand_in.answer = (503, {"message": "maintenance"})
    assert await worker.run_once() == 0
    n = await Notification.get(id=n.id)
    assert n.state == "pending" and n.attempts == 1 and "503" in n.last_error
    assert n.context["code"] == "424242"  # Kept for the retry.
    await Notification.filter(id=n.id).update(next_attempt_at=n.created_at)
    stand_in.answer = (200, TICKET)
    assert await worker.run_once() == 1
    n = await Notification.get(id=n.id)
    assert n.state == "sent" and n.provider_ref == "sms_5fec89fe97109"
    assert n.context["code"] == notifications.BLANK_CODE
    # The same request_id for both attempts: Octopush never sends a retry twice.
    ids = {r["body"]["request_id"] for r in stand_in.requests}
    assert len(ids) == 1 and ids.pop().startswith(f"paraphe-{n.id}-")
    assert "424242" in stand_in.requests[-1]["body"]["text"]
    await worker.stop()


async def test_stand_in_refuses_a_request_off_the_documentation(stand_in):
    async with aiohttp.ClientSession() as session:
        r = await session.post(stand_in.base + "/sms-campaign/send",
                               json={"text": "x", "recipients": [{"phone_number": "0611"}],
                                     "type": "sms_premium", "purpose": "alert",
                                     "sender": "Paraphe"},
                               headers={"api-login": LOGIN, "api-key": KEY})
        assert r.status == 500  # The stand-in's assertion failed: it checks what it claims.
