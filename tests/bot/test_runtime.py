"""`paraphe serve` starts the bot when PARAPHE_TELEGRAM_TOKEN is set, and stops it cleanly."""

from __future__ import annotations

import asyncio
import socket

from pydantic import SecretStr

from tests.fakes.telegram import User
from tests.mail_gateway.mailer import wait_outbox
from workflows import linking, notifications, people
from workflows.actors import Actor
from workflows.models import Notification, Person


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
        # The service's one dispatcher sends a notice to a linked person in the chat, and a
        # mail to an address into the outbox.
        await notifications.to_person(
            await Person.get(id=person.id), "expert/low_credit",
            {"cabinet": "cab", "cabinet_name": "Cab", "balance": 2, "threshold": 5},
            dedup_key="serve:low")
        await notifications.enqueue(
            channel="mail", template="registrant/registration_link", recipient="x@cab.test",
            context={"name": "X", "link": "https://x.test", "days": 7})
        notice = await tg.expect(ana.id, "Low credit for Cab [cab]: 2 credit(s) left")
        (mail,) = await wait_outbox(settings.home, 1)
        assert mail["To"] == "x@cab.test"
        for _ in range(200):  # Marked sent right after Telegram accepted it.
            sent = await Notification.get(dedup_key="serve:low")
            if sent.state == "sent":
                break
            await asyncio.sleep(0.05)
        assert (sent.channel, sent.recipient) == ("telegram", "901")
        assert sent.message_id == str(notice.message_id)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert "stopping…" in lines
