"""`paraphe serve` starts the bot when PARAPHE_TELEGRAM_TOKEN is set, and stops it cleanly."""

from __future__ import annotations

import asyncio
import socket

from pydantic import SecretStr

from tests.fakes.telegram import User
from workflows import linking, people
from workflows.actors import Actor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_runs_the_bot_on_its_loop(settings, tg):
    from paraphe.runtime import serve

    settings.telegram_token = SecretStr(tg.token)
    settings.telegram_api_base = tg.base_url
    settings.web_port, settings.smtp_port = _free_port(), _free_port()
    stop, lines = asyncio.Event(), []
    task = asyncio.create_task(serve(settings, stop=stop, announce=lines.append))
    try:
        await tg.wait_for(lambda: tg.calls_to("getUpdates") or task.done(), timeout=60)
        assert not task.done(), lines
        assert "telegram bot: polling" in lines
        assert tg.calls_to("deleteWebhook")
        op = Actor.operator()
        await people.create_cabinet(op, slug="cab", name="Cab")
        person, _ = await people.add_person(op, email="a@cab.test", name="Ana", cabinet="cab",
                                            role="expert", language="en")
        ana = User(901, "Ana", language_code="en")
        await tg.send_text(ana, f"/start {(await linking.link_code_for(person)).code}")
        await tg.send_text(ana, "/help")
        help_text = (await tg.next_in_chat(ana.id, 1)).text
        assert "/seal" in help_text and "/approve" in help_text and "/sign" in help_text
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert "stopping…" in lines
