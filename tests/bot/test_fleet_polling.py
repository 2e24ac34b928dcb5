"""Two `paraphe serve` instances on one PostgreSQL: one polls Telegram; when it is killed
(kill -9), the other takes over and the bot answers within 30 s."""

from __future__ import annotations

import time

import pytest

from tests.bot.fleet import Serve
from tests.cli import cli_env
from tests.conftest import BACKEND
from tests.fakes.telegram import User

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serves one instance, which always polls")


async def test_the_other_instance_polls_when_the_poller_is_killed(settings, tg):
    env = {**cli_env(settings), "PARAPHE_TELEGRAM_TOKEN": tg.token,
           "PARAPHE_TELEGRAM_API_BASE": tg.base_url}
    first = await Serve.start(env)
    second = None
    try:
        await first.wait_for("Paraphe is running")
        assert "telegram bot: polling" in first.lines
        second = await Serve.start(env)
        await second.wait_for("Paraphe is running")
        assert "telegram bot: another instance polls; this one takes over if it stops" \
            in second.lines
        ana = User(4242, "Ana", language_code="en")
        await tg.send_text(ana, "/help")
        await tg.next_in_chat(ana.id, 0)

        await first.kill()  # No clean stop: its database session just ends.
        killed = time.monotonic()
        await tg.send_text(ana, "/help")
        await tg.next_in_chat(ana.id, 1, timeout=30)
        assert time.monotonic() - killed < 30
        await second.wait_for("telegram polling: this instance was elected", timeout=5)
        assert len(tg.chat(ana.id)) == 2  # Each update answered once.
    finally:
        await first.close()
        if second is not None:
            await second.close()
    assert second.proc.returncode == 0, "\n".join(second.lines)
    assert not any("Traceback" in line for line in second.lines), "\n".join(second.lines)
    assert not any(tg.token in line for line in first.lines + second.lines)
