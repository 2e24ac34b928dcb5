"""The webhook delivery worker: relays evidence into events, posts them signed, retries with
backoff."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from workflows import webhooks
from workflows.errors import WebhookTargetForbiddenError
from workflows.services import Services
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import Resolve, WebhookTargets, is_literal


log = logging.getLogger("paraphe.webhooks")
TIMEOUT = aiohttp.ClientTimeout(total=10)
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for webhooks: one resolution, every address checked, and the
    connection made to those very addresses (given back as numeric hosts), so a name
    cannot resolve to a public address for the check and a private one for the connect."""

    def __init__(self, targets: WebhookTargets) -> None:
        self.targets = targets

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC):
        addresses = await self.targets.addresses(host, port)
        return [{"hostname": host, "host": address, "port": port, "proto": 0, "flags": _NUMERIC,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
                for address in addresses]

    async def close(self) -> None:
        pass


class WebhookWorker:
    """Polls every `interval` seconds on the running loop; `run_once()` is one pass (tests use
    it)."""

    def __init__(self, svc: Services, *, interval: float = 2.0, batch: int = 20,
                 resolve: Resolve | None = None) -> None:
        self.svc = svc
        self.box = SecretBox(svc.settings)
        self.targets = WebhookTargets.from_settings(svc.settings, resolve)
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _session_open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No DNS cache: each delivery resolves and checks again (DNS can change).
            connector = aiohttp.TCPConnector(resolver=CheckedResolver(self.targets),
                                             use_dns_cache=False)
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector)
        return self._session

    async def _send(self, notification) -> str | None:
        outgoing = await webhooks.prepare(notification, self.box)
        if outgoing is None:
            return None
        session = await self._session_open()
        started = time.monotonic()
        status, error = None, None
        try:
            host = URL(outgoing.url).host or ""
            if is_literal(host):  # aiohttp connects to an IP literal without asking the resolver.
                await self.targets.addresses(host, URL(outgoing.url).port or 80)
            async with session.post(outgoing.url, data=outgoing.body, headers=outgoing.headers,
                                    allow_redirects=False) as response:
                status = response.status
                await response.read()
        except WebhookTargetForbiddenError as exc:
            error = exc.message
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
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

    def start(self) -> WebhookWorker:
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


async def start_webhook_worker(svc: Services, *, interval: float = 2.0) -> WebhookWorker:
    """Starts the worker on the running loop; the runtime awaits `stop()` at shutdown."""
    worker = WebhookWorker(svc, interval=interval)
    if sealed := await webhooks.seal_stored_secrets(worker.box):
        log.info("sealed %d webhook secret(s) stored in clear by an earlier version", sealed)
    return worker.start()
