"""Sends the outbox's text messages: claims due "sms" notifications, sends each through the
deployment's SmsSender, and records what happened (sent with the provider's id, refused for
good, or failed to be retried with the outbox's backoff)."""

from __future__ import annotations

import asyncio
import logging

from sms_gateway.sender import SmsSender, sender_for
from workflows import notifications
from workflows.notifications import DeliveryRefused
from workflows.services import Services

log = logging.getLogger("paraphe.sms")


class SmsDeliveryWorker:
    def __init__(self, svc: Services, *, sender: SmsSender | None = None,
                 interval: float = 2.0, batch: int = 20) -> None:
        self.svc, self.interval, self.batch = svc, interval, batch
        self.sender = sender or sender_for(svc.settings)
        self._task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """Sends what is due now; returns how many went out."""
        sent = 0
        for n in await notifications.claim_due(self.batch, channel="sms"):
            try:
                ref = await self.sender.send(n)
            except DeliveryRefused as exc:
                log.warning("SMS %s refused for good: %s", n.id, exc)
                await notifications.mark_refused(n, exc.reason, exc.text)
                continue
            except Exception as exc:  # Down, slow, throttled: the backoff retries it.
                log.warning("SMS %s failed, retried later: %s: %s", n.id,
                            type(exc).__name__, exc)
                await notifications.mark_failed(n, f"{type(exc).__name__}: {exc}")
                continue
            await notifications.mark_sent(n, provider_ref=ref)
            sent += 1
        return sent

    async def _loop(self) -> None:
        try:  # An SMPP session bound at start takes the receipts of earlier messages.
            await self.sender.open()
        except Exception as exc:
            log.warning("SMS provider not reachable at start: %s", exc)
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # The database may be briefly away; the next round retries.
                log.exception("SMS delivery round failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sms-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.sender.close()
