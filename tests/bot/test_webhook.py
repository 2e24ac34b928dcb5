"""Webhook mode (PARAPHE_TELEGRAM_WEBHOOK_URL): `paraphe serve` registers the webhook with its
secret token and polls no more; Telegram's POSTs reach the bot through the web app, checked
by the secret header; a webhook left from before is removed by the poller."""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import GetUpdates
from pydantic import SecretStr

from bot.models import TelegramUpdate
from tests.bot.conftest import free_port
from tests.fakes.telegram import SECRET_HEADER, User
from web.telegram_webhook import MAX_UPDATE_BYTES
from workflows import billing, linking, people
from workflows.actors import Actor

PATH = "/telegram/webhook"


async def _post(url: str, body, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    data = body if isinstance(body, bytes) else None
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=None if data is not None else body, data=data,
                             headers=headers) as resp:
            return resp.status


async def _linked_expert(tg, language: str = "en"):
    """Ana, expert of a cabinet with 10 credits, linked through /start as she would."""
    op = Actor.operator()
    cabinet = await people.create_cabinet(op, slug="cab", name="Cab")
    await billing.add_credit(op, cabinet, 10)
    person, _ = await people.add_person(op, email="ana@cab.test", name="Ana", cabinet="cab",
                                        role="expert", language=language)
    ana = User(901, "Ana", language_code=language)
    await tg.send_text(ana, f"/start {(await linking.link_code_for(person)).code}")
    await tg.next_in_chat(ana.id, 0)
    return ana


async def test_updates_come_through_the_webhook_with_its_secret(settings, tg, caplog):
    from bot.webhook import secret_token
    from paraphe.runtime import serve

    caplog.set_level(logging.INFO)
    settings.telegram_token = SecretStr(tg.token)
    settings.telegram_api_base = tg.base_url
    settings.web_port, settings.smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{settings.web_port}{PATH}"
    settings.telegram_webhook_url = url
    secret = secret_token(settings, tg.token)
    stop, lines = asyncio.Event(), []
    task = asyncio.create_task(serve(settings, stop=stop, announce=lines.append))
    try:
        await tg.wait_for(lambda: "Paraphe is running; Ctrl-C stops it." in lines
                          or task.done(), timeout=90)
        assert not task.done(), lines
        assert f"telegram bot: webhook {url}" in lines
        (call,) = tg.calls_to("setWebhook")
        assert call.params["url"] == url and call.params["secret_token"] == secret
        assert call.params["allowed_updates"] == ["message", "callback_query"]
        assert call.params.get("drop_pending_updates") in (None, "false", False)

        ana = await _linked_expert(tg)
        await tg.send_text(ana, "/help")
        assert "/seal" in (await tg.next_in_chat(ana.id, 1)).text
        await tg.send_text(ana, "/credit")
        assert "10 credit(s) available" in (await tg.next_in_chat(ana.id, 2)).text
        assert {d.status for d in tg.deliveries} == {200}
        assert not tg.calls_to("getUpdates") and not tg.calls_to("deleteWebhook")

        # Forged updates: no secret, a wrong one, the right one with a byte changed.
        forged = tg.text_update(ana, "/help")
        for wrong in (None, "", secret[:-1] + ("A" if secret[-1] != "A" else "B"),
                      "x" * 300):
            assert await _post(url, forged, wrong) == 403
        # Not an update: refused, and nothing handled.
        assert await _post(url, b"{not json", secret) == 400
        assert await _post(url, b"\xff\xfe", secret) == 400
        assert await _post(url, [1, 2], secret) == 400
        assert await _post(url, {"update_id": "x"}, secret) == 400
        assert await _post(url, {"update_id": 7, "message": {"text": 3}}, secret) == 400
        too_big = b'{"update_id": 8, "pad": "' + b"a" * MAX_UPDATE_BYTES + b'"}'
        assert await _post(url, too_big, secret) == 413

        # Telegram retries an update whose answer it missed: the second one does nothing.
        twice = tg.text_update(ana, "/credit")
        assert await _post(url, twice, secret) == 200
        assert await _post(url, twice, secret) == 200
        await tg.next_in_chat(ana.id, 3)
        # A later update is answered after both copies were taken: ordered per person.
        await tg.send_text(ana, "/delegations")
        await tg.next_in_chat(ana.id, 4)
        texts = [s.text for s in tg.chat(ana.id)]
        assert len(texts) == 5, texts
        assert "10 credit(s) available" in texts[3]
        assert not await TelegramUpdate.filter(update_id=forged["update_id"]).exists()
        assert await TelegramUpdate.filter(update_id=twice["update_id"]).count() == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert "stopping…" in lines
    # The webhook stays registered for the other instances of the fleet.
    assert not tg.calls_to("deleteWebhook") and tg.webhook["url"] == url
    # (The fake server's own access log names the token in its paths: not ours.)
    logged = "\n".join([r.getMessage() for r in caplog.records
                        if not r.name.startswith("aiohttp")] + lines)
    assert secret not in logged, [x for x in logged.splitlines() if secret in x]
    assert tg.token not in logged


async def test_a_failed_registration_is_logged_and_tried_again(svc, tg, caplog):
    from bot.app import start_bot
    from bot.webhook import WebhookKeeper, secret_token

    caplog.set_level(logging.INFO, logger="paraphe.bot")
    handle = await start_bot(svc, poll=False)
    secret = secret_token(svc.settings, tg.token)
    url = f"https://paraphe.example{PATH}"
    keeper = WebhookKeeper(handle.bot, url, secret, retry=0.05, check=0.2)
    tg.fail_next("setWebhook", 502, "Bad Gateway")
    tg.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host")
    try:
        assert await keeper.start() is False
        assert "setWebhook for https://paraphe.example/telegram/webhook failed" in caplog.text
        await tg.wait_for(lambda: tg.webhook is not None, timeout=10)
        assert len(tg.calls_to("setWebhook")) == 3
        assert tg.webhook == {"url": url, "secret_token": secret,
                              "allowed_updates": ["message", "callback_query"]}
        await tg.wait_for(lambda: keeper.registered, timeout=5)

        # Someone deleted it (a poller of another configuration): the keeper notices.
        await handle.bot.delete_webhook()
        await tg.wait_for(lambda: tg.webhook is not None, timeout=10)
        assert "Telegram has no webhook; registering" in caplog.text
        assert len(tg.calls_to("setWebhook")) == 4
    finally:
        await keeper.stop()
        await handle.stop()
    assert secret not in caplog.text and tg.token not in caplog.text
    assert not tg.calls_to("getUpdates")


async def test_the_poller_removes_a_webhook_set_before(svc, tg):
    from bot.app import start_bot

    handle = await start_bot(svc, poll=False, poll_timeout=1)
    try:
        # The fleet ran in webhook mode before; nobody answers that URL any more.
        dead = f"http://127.0.0.1:{free_port()}{PATH}"
        await handle.bot.set_webhook(dead, secret_token="old-secret")
        bob = User(902, "Bob", language_code="en")
        first = await tg.send_text(bob, "/help")
        await tg.wait_for(lambda: any(d.status is None for d in tg.deliveries), timeout=10)
        with pytest.raises(TelegramConflictError):
            await handle.bot(GetUpdates(timeout=0))

        polls_before = len(tg.calls_to("getUpdates"))
        handle.start_polling()
        await tg.next_in_chat(bob.id, 0)  # The update that waited, answered by polling.
        assert tg.webhook is None
        calls = [c.method for c in tg.calls if c.method in ("deleteWebhook", "getUpdates")]
        assert calls[polls_before] == "deleteWebhook", calls
        (delete,) = tg.calls_to("deleteWebhook")
        assert delete.params.get("drop_pending_updates") in ("false", False)
        assert first["update_id"] in {d.update_id for d in tg.deliveries}

        # A webhook set again meanwhile (an instance still configured for it): getUpdates
        # gets 409, and the poller removes it again.
        await handle.bot.set_webhook(dead, secret_token="old-secret")
        await tg.wait_for(lambda: len(tg.calls_to("deleteWebhook")) == 2, timeout=15)
        assert tg.webhook is None
        await tg.send_text(bob, "/help")
        await tg.next_in_chat(bob.id, 1, timeout=15)
        await tg.drained()
    finally:
        await handle.stop()
    assert len(tg.chat(bob.id)) == 2


def test_every_instance_derives_the_same_secret_token(tmp_path):
    from bot.webhook import secret_token
    from paraphe.settings import Settings

    def token(master: str | None, home: str, bot_token: str = "123:abc") -> str:
        return secret_token(Settings(home=tmp_path / home, master_key=master), bot_token)

    one = token("m" * 32, "a")
    assert one == token("m" * 32, "b")  # Another instance, its own home: the same.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", one) and len(one) == 43
    assert len({one, token("n" * 32, "a"), token("m" * 32, "a", "123:abd"),
                token(None, "a")}) == 4
    assert token(None, "a") == token(None, "b")
    assert "m" * 32 not in one and "123:abc" not in one


async def test_updates_wait_in_telegram_while_the_bot_is_not_running(svc, tg):
    from bot.app import start_bot
    from web.app import start_web
    from web.telegram_webhook import TelegramInbox

    inbox = TelegramInbox(PATH, "s3cret")
    port = free_port()
    runner = await start_web(svc, port=port, telegram=inbox)
    url = f"http://127.0.0.1:{port}{PATH}"
    carol = User(903, "Carol", language_code="en")
    update = tg.text_update(carol, "/help")
    try:
        # Started before the bot (as `paraphe serve` does): 503, and Telegram tries again.
        assert await _post(url, update, "s3cret") == 503
        handle = await start_bot(svc, poll=False)
        inbox.accept = handle.accept
        await handle.stop()  # Stopping: what comes now is for the other instances.
        assert await _post(url, update, "s3cret") == 503
        assert "s3cret" not in repr(inbox)
    finally:
        await runner.cleanup()
    assert not tg.chat(carol.id)
    assert not await TelegramUpdate.filter(update_id=update["update_id"]).exists()
