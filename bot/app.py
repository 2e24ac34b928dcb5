"""The Telegram bot on the service's own loop: aiogram dispatcher, and updates taken by long
polling or given by Telegram's webhook (bot/webhook.py, web/telegram_webhook.py).

Notifications reach the chat through the service's one notification dispatcher
(paraphe.dispatch), given bot.delivery.TelegramSender(svc, handle.bot) while the bot runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import DeleteWebhook, GetUpdates
from aiogram.types import Update

from bot.dedupe import OnceMiddleware
from bot.fsm_storage import DatabaseStorage
from bot.identity import IdentityMiddleware
from compat import aiogram as compat_aiogram
from workflows.services import Services

log = logging.getLogger("paraphe.bot")

ALLOWED_UPDATES = ["message", "callback_query"]
# How long stop() lets updates being handled finish before cancelling them.
STOP_GRACE_SECONDS = 30.0


def build_dispatcher(svc: Services) -> Dispatcher:
    """The dispatcher with every router; `svc` reaches handlers as a dependency."""
    from bot import errors
    from bot.routers import (
        account,
        approvals,
        certificate,
        collect,
        documents,
        linking,
        registration,
        signing,
        terms,
        tracking,
    )

    # Conversation state lives in the database: a restart in the middle of /collect resumes it.
    dp = Dispatcher(storage=DatabaseStorage(), svc=svc)
    dp.update.outer_middleware(OnceMiddleware())
    dp.update.outer_middleware(IdentityMiddleware())
    # Registration and certificate take a typed answer or a file only when the person's
    # registration (or revocation) waits for one, so they come before documents.
    routers = [errors.router, linking.router, account.router, terms.router,
               registration.router, certificate.router, collect.router, signing.router,
               approvals.router, tracking.router, documents.router]
    for router in routers:
        # The routers are module-level (one per feature); a bot started again in the same
        # process (tests, a restart of the bot alone) attaches them to its new dispatcher.
        compat_aiogram.detach(router)
    # Linking first: it answers unknown accounts and nothing after it sees them.
    dp.include_routers(*routers)
    return dp


def make_bot(svc: Services) -> Bot:
    settings = svc.settings
    if settings.telegram_api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    else:
        session = AiohttpSession()
    return Bot(settings.telegram_token.get_secret_value(), session=session)


def _sender(update: Update) -> int:
    for event in (update.message, update.callback_query, update.edited_message):
        if event is not None and event.from_user is not None:
            return event.from_user.id
    return 0


@dataclass
class BotHandle:
    """The running bot; `await handle.stop()` ends polling and in-flight updates."""

    bot: Bot
    dispatcher: Dispatcher
    username: str
    poll_timeout: int = 10
    _task: asyncio.Task | None = None
    _inflight: set[asyncio.Task] = field(default_factory=set)
    _queues: dict[int, list] = field(default_factory=dict)
    _stopping: bool = False

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    def start_polling(self) -> None:
        """Starts taking updates (this instance was elected, or it is the only one)."""
        if not self.polling:
            self._task = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram bot @%s polling", self.username)

    async def stop_polling(self) -> None:
        """Stops taking updates; those being handled finish. An update taken but not yet
        confirmed (by the next getUpdates) comes again to whoever polls next, and
        bot.dedupe handles it once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.info("telegram bot @%s no longer polling", self.username)

    def accept(self, data: dict) -> bool:
        """Takes an update Telegram POSTed to the webhook: handled in the background, so the
        answer goes back at once. Returns False once the bot is stopping (the web answers
        503 and Telegram delivers it again, to this or another instance); raises ValueError
        for what is not an update."""
        if self._stopping:
            return False
        self._spawn(Update.model_validate(data, context={"bot": self.bot}))
        return True

    def _spawn(self, update: Update) -> None:
        task = asyncio.create_task(self._handle(update))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _poll(self) -> None:
        offset: int | None = None
        delay = 1.0
        # Telegram answers 409 to getUpdates while a webhook is set (the fleet ran in webhook
        # mode before, or an instance still does): the poller removes it first, and again
        # whenever a conflict says one came back. Pending updates stay for getUpdates.
        webhook_may_be_set = True
        while True:
            try:
                if webhook_may_be_set:
                    await self.bot(DeleteWebhook(drop_pending_updates=False))
                    webhook_may_be_set = False
                updates: list[Update] = await self.bot(
                    GetUpdates(offset=offset, timeout=self.poll_timeout,
                               allowed_updates=ALLOWED_UPDATES),
                    request_timeout=self.poll_timeout + 30)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Telegram unreachable: keep trying, politely.
                what = "deleteWebhook" if webhook_may_be_set else "getUpdates"
                log.warning("%s failed (%s); retrying in %.0fs", what, exc, delay)
                if isinstance(exc, TelegramConflictError):
                    webhook_may_be_set = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            delay = 1.0
            for update in updates:
                offset = update.update_id + 1
                self._spawn(update)

    async def _handle(self, update: Update) -> None:
        # One person's updates are handled in the order they came (a /start before the /help
        # typed right after it); different people are handled side by side.
        key = _sender(update)
        lock, users = self._queues.setdefault(key, [asyncio.Lock(), 0])
        self._queues[key][1] = users + 1
        try:
            async with lock:
                await self.dispatcher.feed_update(self.bot, update)
        except Exception:  # The errors router answers the user; this is the last resort.
            log.exception("update %s failed", update.update_id)
        finally:
            self._queues[key][1] -= 1
            if self._queues[key][1] == 0:
                del self._queues[key]

    async def stop(self) -> None:
        self._stopping = True
        await self.stop_polling()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.bot.session.close()


async def start_bot(svc: Services, *, poll_timeout: int = 10, poll: bool = True) -> BotHandle:
    """The bot, polling on the running loop unless `poll` is false (then it only sends until
    `start_polling()`, or takes what the webhook gives it through `accept()`)."""
    bot = make_bot(svc)
    try:
        me = await bot.get_me()
    except BaseException:
        await bot.session.close()
        raise
    # Mail replies (help@) and notices give the deep link https://t.me/<username>?start=<code>.
    svc.telegram_username = me.username or svc.telegram_username
    handle = BotHandle(bot=bot, dispatcher=build_dispatcher(svc), username=me.username or "",
                       poll_timeout=poll_timeout)
    if poll:
        handle.start_polling()
    return handle
