"""`paraphe serve` instances run as processes of their own, for the fleet's tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from tests.bot.conftest import free_port


class Serve:
    """One `paraphe serve` process and what it printed."""

    # Seconds a SIGTERM gets to end it cleanly before its process group is killed.
    stop_timeout = 30

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc, self.lines = proc, []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict, web: int | None = None) -> Serve:
        web = web or free_port()
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
                await asyncio.wait_for(self.proc.wait(), self.stop_timeout)
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
