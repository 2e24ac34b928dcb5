"""The webhook delivery worker: relays evidence into events, posts them signed, retries with backoff."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from workflows import webhooks
from workflows.webhook_secrets import SecretBox

log = logging.getLogger("paraphe.webhooks")
TIMEOUT = aiohttp.ClientTimeout(total=10)


class WebhookWorker:
    """Polls every `interval` seconds on the running loop; `run_once()` is one pass (tests use it)."""

    def __init__(self, svc, *, interval: float = 2.0, batch: int = 20) -> None:
        self.svc = svc
        self.box = SecretBox(svc.settings)
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _session_open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def _send(self, notification) -> str | None:
        outgoing = await webhooks.prepare(notification, self.box)
        if outgoing is None:
            return None
        session = await self._session_open()
        started = time.monotonic()
        status, error = None, None
        try:
            async with session.post(outgoing.url, data=outgoing.body, headers=outgoing.headers,
                                    allow_redirects=False) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration = int((time.monotonic() - started) * 1000)
        return await webhooks.record_result(notification, status_code=status, error=error,
                                            duration_ms=duration)

    async def run_once(self) -> list[str]:
        """Relays new evidence, then sends what is due; returns the outcomes of this pass."""
        await webhooks.relay_evidence()
        due = await webhooks.claim_due(self.batch)
        outcomes = await asyncio.gather(*(self._send(n) for n in due))
        return [o for o in outcomes if o is not None]

    async def _loop(self) -> None:
        while True:
            try:
                outcomes = await self.run_once()
                if len(outcomes) >= self.batch:
                    continue  # More may be due: go on without waiting.
            except asyncio.CancelledError:
                raise
            except Exception:  # A database hiccup must not end deliveries for good.
                log.exception("webhook delivery pass failed")
            await asyncio.sleep(self.interval)

    def start(self) -> "WebhookWorker":
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="webhooks")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None


async def start_webhook_worker(svc, *, interval: float = 2.0) -> WebhookWorker:
    """Starts the worker on the running loop; the runtime awaits `stop()` at shutdown."""
    worker = WebhookWorker(svc, interval=interval)
    if sealed := await webhooks.seal_stored_secrets(worker.box):
        log.info("sealed %d webhook secret(s) stored in clear by an earlier version", sealed)
    return worker.start()
