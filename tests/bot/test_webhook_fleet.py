"""Two `paraphe serve` instances on one PostgreSQL in webhook mode: neither polls, both
register the webhook, and the same update POSTed to both is answered once."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.models import TelegramUpdate
from bot.webhook import secret_token
from tests.bot.conftest import free_port
from tests.bot.fleet import Serve
from tests.cli import cli_env
from tests.conftest import BACKEND
from tests.fakes.telegram import SECRET_HEADER, User
from workflows import billing, linking, people
from workflows.actors import Actor

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serves one instance")

PATH = "/telegram/webhook"


async def _post(url: str, update: dict, secret: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update, headers={SECRET_HEADER: secret}) as resp:
            return resp.status


async def test_two_instances_answer_an_update_once(settings, db, tg):
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}{PATH}" for port in ports]
    # Behind a load balancer both register its one URL; here the first instance stands for it.
    env = {**cli_env(settings), "PARAPHE_TELEGRAM_TOKEN": tg.token,
           "PARAPHE_TELEGRAM_API_BASE": tg.base_url, "PARAPHE_TELEGRAM_WEBHOOK_URL": urls[0]}
    secret = secret_token(settings, tg.token)
    op = Actor.operator()
    cabinet = await people.create_cabinet(op, slug="cab", name="Cab")
    await billing.add_credit(op, cabinet, 10)
    person, _ = await people.add_person(op, email="ana@cab.test", name="Ana", cabinet="cab",
                                        role="expert", language="en")
    instances = []
    try:
        for port in ports:
            instances.append(await Serve.start(env, web=port))
        for serve in instances:
            await serve.wait_for("Paraphe is running")
            assert f"telegram bot: webhook {urls[0]}" in serve.lines
        calls = tg.calls_to("setWebhook")
        assert len(calls) == 2 and {c.params["secret_token"] for c in calls} == {secret}
        assert not tg.calls_to("getUpdates") and not tg.calls_to("deleteWebhook")

        ana = User(4343, "Ana", language_code="en")
        await tg.send_text(ana, f"/start {(await linking.link_code_for(person)).code}")
        await tg.next_in_chat(ana.id, 0)

        # Telegram retried an update on another instance: both get it at the same moment.
        update = tg.text_update(ana, "/credit")
        statuses = await asyncio.gather(*(_post(url, update, secret) for url in urls))
        assert statuses == [200, 200]
        answer = await tg.next_in_chat(ana.id, 1)
        assert "10 credit(s) available" in answer.text
        skipped = f"update {update['update_id']} already handled; skipped"
        for _ in range(300):  # The copy that lost the claim says so in its instance's log.
            if any(skipped in line for s in instances for line in s.lines):
                break
            await asyncio.sleep(0.1)
        assert sum(any(skipped in line for line in s.lines) for s in instances) == 1
        assert len(tg.chat(ana.id)) == 2
        assert await TelegramUpdate.filter(update_id=update["update_id"]).count() == 1

        # Either instance answers what the other did not see.
        await _post(urls[1], tg.text_update(ana, "/help"), secret)
        assert "/seal" in (await tg.next_in_chat(ana.id, 2)).text
        # A forged update is refused by both.
        forged = tg.text_update(ana, "/help")
        assert [await _post(url, forged, secret[::-1]) for url in urls] == [403, 403]
    finally:
        for serve in instances:
            await serve.close()
    assert len(tg.chat(ana.id)) == 3
    for serve in instances:
        assert serve.proc.returncode == 0, "\n".join(serve.lines)
        assert not any("Traceback" in line for line in serve.lines), "\n".join(serve.lines)
        assert not any(tg.token in line or secret in line for line in serve.lines)
