"""The one notification dispatcher: claims what is due, picks the channel, sends, records.

The core only records intentions (workflows.notifications). This loop claims the due ones of
every channel it has a sender for, in one query, each row by a conditional update, so two
dispatchers on one database never send a row twice. A notice to a person (channel PERSON)
is resolved here, when it goes out: to their chat when they linked Telegram and this service
runs a bot (and the notice has a chat version), else by mail; the row then names that
channel and recipient. Each row goes to the sender of its channel; the outcome is recorded
with one backoff table (notifications.BACKOFF): sent with the message id the sender gave
(kept as the provider's reference when the sender says `keeps_reference`, for delivery
reports), DeliveryRefused failed for good with its reason through workflows.deliveries
(a signer's failed invitation is acted on there), anything else retried.

A sender is any object with `async def send(self, notification) -> str | None`. Optional:
`concurrent` (True: a batch is sent side by side; else one by one, in order),
`resends_safely` (True: a claim left in "sending" by a killed process of this host and
home is taken back at start, since a second send into its Maildir gives one message; the
claims of other instances, which may be alive, wait for CLAIM_TIMEOUT),
`accepts(notification)` (False: a person's notice is not sent on this channel), `close()`
(awaited when the dispatcher stops). Rows of a channel with no sender here (a chat with no
bot) are not claimed: they wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from workflows import deliveries, holders, notifications
from workflows.models import Notification, Person, Signer
from workflows.notifications import PERSON, DeliveryRefused
from workflows.services import Services

log = logging.getLogger("paraphe.dispatch")


class Sender(Protocol):
    async def send(self, notification: Notification) -> str | None: ...


class Dispatcher:
    """Sends due notifications through `senders` ({channel: sender}); `run_once` is one
    sweep, `start` / `stop` run it on the loop, woken early by notifications.nudge()."""

    def __init__(self, svc: Services, senders: Mapping[str, Sender], *, batch: int = 20,
                 poll_interval: float = 1.0, holder: str | None = None) -> None:
        self.svc = svc
        # Written on each claim (notification.claimed_by): says which process sends it.
        self.holder = holder or holders.holder_name(svc.settings.home)
        self.senders = dict(senders)
        self.batch = batch
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        notifications.on_nudge(self.wake)
        self._task = asyncio.create_task(self._loop(), name="notification-dispatch")

    async def stop(self) -> None:
        notifications.off_nudge(self.wake)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()

    async def _loop(self) -> None:
        await self.release_stale_claims()
        while True:
            self._wake.clear()
            try:
                claimed, _ = await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again.
                log.exception("notification dispatch sweep failed")
                claimed = 0
            if claimed >= self.batch:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass

    async def release_stale_claims(self) -> None:
        """Takes back at once the claims a killed process of this instance (same host and
        home, its pid gone) left in "sending", on the channels where a second send gives one
        message (the Maildir of this home). Claims of other instances of the fleet, which may
        be sending right now into their own Maildir, and every claim elsewhere, wait for
        CLAIM_TIMEOUT (notifications.claim_due)."""
        for channel, sender in self.senders.items():
            if getattr(sender, "resends_safely", False):
                taken = await notifications.release_claims_of_dead(
                    channel, self.svc.settings.home, self.holder)
                if taken:
                    log.info("took back %d %s notification(s) a killed process left", taken,
                             channel)

    async def run_once(self) -> int:
        """Sends what is due now; returns how many notifications went out."""
        return (await self.sweep())[1]

    async def sweep(self) -> tuple[int, int]:
        """One batch: (how many were claimed, how many went out). A full batch claimed is
        followed by another at once."""
        claimed = await notifications.claim_due(self.batch, channels=[*self.senders, PERSON],
                                                holder=self.holder)
        if not claimed:
            return 0, 0
        by_channel: dict[str, list[tuple[Notification, bool]]] = {}
        for n in claimed:
            audience = n.channel == PERSON
            if audience and not await self._resolve(n):
                continue
            if n.channel not in self.senders:  # Cannot happen but for a resolved row.
                await notifications.release(n)
                continue
            by_channel.setdefault(n.channel, []).append((n, audience))
        sent = await asyncio.gather(*(self._send_all(channel, rows)
                                      for channel, rows in by_channel.items()))
        return len(claimed), sum(sent)

    async def _send_all(self, channel: str, rows: list) -> int:
        sender = self.senders[channel]
        if getattr(sender, "concurrent", False):
            return sum(await asyncio.gather(*(self._send(sender, n, audience)
                                              for n, audience in rows)))
        return sum([await self._send(sender, n, audience) for n, audience in rows])

    async def _resolve(self, n: Notification) -> bool:
        """Picks the channel of a notice to a person; False when nobody is left to tell."""
        person = await Person.get_or_none(id=n.person_id) if n.person_id else None
        chat = self.senders.get("telegram")
        if (person is not None and person.telegram_user_id is not None and chat is not None
                and getattr(chat, "accepts", lambda _: True)(n)):
            await notifications.resolve(n, "telegram", str(person.telegram_user_id),
                                        person.language)
        elif n.signer_id is not None and (signer := await Signer.get_or_none(id=n.signer_id)):
            # A signer: by mail to the address the collection named.
            await notifications.resolve(n, "mail", signer.email)
        elif person is not None:
            await notifications.resolve(n, "mail", person.email, person.language)
        else:
            await notifications.mark_refused(n, "no_recipient",
                                             "the person was deleted before it went out")
            return False
        return True

    async def _send(self, sender: Sender, n: Notification, audience: bool) -> int:
        try:
            message_id = await sender.send(n)
        except asyncio.CancelledError:
            raise
        except DeliveryRefused as refused:
            log.warning("notification %s (%s) refused: %s", n.id, n.channel, refused.reason)
            await deliveries.refused(self.svc, n, refused.reason, refused.text)
            return 0
        except Exception as exc:  # noqa: BLE001 - any other failure is retried with backoff.
            log.warning("notification %s (%s) failed: %s", n.id, n.channel,
                        type(exc).__name__)
            retried = await notifications.mark_failed(n, f"{type(exc).__name__}: {exc}")
            if retried and audience:
                # The next attempt picks the channel again: the bot may be gone by then.
                await Notification.filter(id=n.id, state="pending").update(channel=PERSON)
            return 0
        if getattr(sender, "keeps_reference", False):
            await notifications.mark_sent(n, provider_ref=message_id)
        else:
            await notifications.mark_sent(n, message_id)
        return 1
