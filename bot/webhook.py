"""Telegram's webhook mode: the secret token every instance derives alike, and the keeper
that registers the webhook (setWebhook) and checks now and then that it is still there.

Every instance registers the same URL and secret, so the call is idempotent and needs no
election; a failure (Telegram unreachable, a URL it refuses) is logged and tried again
later, and the service keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging

from aiogram import Bot
from aiogram.methods import GetWebhookInfo, SetWebhook

from bot.app import ALLOWED_UPDATES
from workflows.ports import CoreSettings

log = logging.getLogger("paraphe.bot")

RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
# Once registered, Telegram is asked this often whether the webhook is still this one: an
# instance still polling during a rolling change of configuration deletes it when getUpdates
# meets a 409, and updates then wait in Telegram (24 hours at most) until it is back.
CHECK_SECONDS = 60.0


def secret_token(settings: CoreSettings, bot_token: str) -> str:
    """Telegram's `secret_token` for the webhook: an HMAC-SHA256 under PARAPHE_MASTER_KEY
    of the bot token, 43 characters of A-Za-z0-9_-. Every instance of a fleet shares both,
    so they agree on it with nothing more to configure; a new bot token or master key gives
    a new one, registered again at the next start."""
    master = settings.master_key.get_secret_value() if settings.master_key else ""
    mac = hmac.new(master.encode(), b"paraphe telegram webhook\0" + bot_token.encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class WebhookKeeper:
    """Registers `url` with Telegram, retrying with backoff until it is accepted, then
    checks every `check` seconds that Telegram still has it."""

    def __init__(self, bot: Bot, url: str, secret: str, *, retry: float = RETRY_SECONDS,
                 check: float = CHECK_SECONDS) -> None:
        self.bot, self.url, self._secret = bot, url, secret
        self.retry, self.check = retry, check
        self.registered = False
        self._task: asyncio.Task | None = None
        self._error_seen = None

    async def start(self) -> bool:
        """Makes a first try at once, then keeps at it in the background; returns whether
        the first try registered the webhook."""
        await self._round()
        self._task = asyncio.create_task(self._run(), name="telegram-webhook")
        return self.registered

    async def stop(self) -> None:
        # The webhook stays registered: the other instances still answer it.
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        delay = self.retry
        while True:
            await asyncio.sleep(self.check if self.registered else delay)
            delay = self.retry if await self._round() else min(delay * 2, MAX_RETRY_SECONDS)

    async def _round(self) -> bool:
        try:
            if self.registered and await self._still_ours():
                return True
            await self.bot(SetWebhook(url=self.url, secret_token=self._secret,
                                      allowed_updates=ALLOWED_UPDATES,
                                      drop_pending_updates=False))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged, and tried again later.
            self.registered = False
            log.warning("telegram webhook: setWebhook for %s failed (%s: %s); trying again "
                        "later", self.url, type(exc).__name__, self._masked(exc))
            return False
        log.info("telegram webhook: Telegram delivers updates to %s", self.url)
        self.registered = True
        return True

    async def _still_ours(self) -> bool:
        info = await self.bot(GetWebhookInfo())
        if info.last_error_message and info.last_error_date != self._error_seen:
            self._error_seen = info.last_error_date
            log.warning("telegram webhook: Telegram reports its last delivery failed (%s); "
                        "%s update(s) pending", info.last_error_message,
                        info.pending_update_count)
        if info.url == self.url:
            return True
        log.warning("telegram webhook: Telegram has %s; registering %s again",
                    "another URL" if info.url else "no webhook", self.url)
        return False

    def _masked(self, exc: Exception) -> str:
        # An HTTP client's error may quote the request's URL, which holds the bot token.
        return str(exc).replace(self.bot.token, "<token>").replace(self._secret, "<secret>")
