"""Two `paraphe serve` instances on one PostgreSQL: one polls Telegram; when it is killed
(kill -9), the other takes over and the bot answers within 30 s."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from tests.bot.conftest import free_port
from tests.cli import cli_env
from tests.conftest import BACKEND
from tests.fakes.telegram import User

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serves one instance, which always polls")


class Serve:
    """One `paraphe serve` process and what it printed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc, self.lines = proc, []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict) -> Serve:
        web = free_port()
        env = {**env, "PARAPHE_WEB_PORT": str(web), "PARAPHE_SMTP_PORT": str(free_port()),
               "PARAPHE_PUBLIC_URL": f"http://127.0.0.1:{web}"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "paraphe.cli", "serve", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        return cls(proc)

    async def _read(self) -> None:
        async for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    async def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in:\n" + "\n".join(self.lines))
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """kill -9 of the instance: the service and its signing workers, as a crash."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                pass
        try:  # Whatever is left of its process group (workers) goes too.
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await self.proc.wait()
        try:
            await asyncio.wait_for(self._reader, 10)
        except TimeoutError:
            pass


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
