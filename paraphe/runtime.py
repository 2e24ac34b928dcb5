"""`paraphe serve`: web, SMTP gateway, notification dispatcher (mail, chat, SMS), scheduler
and bot on ONE asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler

import compat
from bot import sweeps as bot_sweeps
from mail_gateway import delivery as mail_delivery
from mail_gateway import dkim_key
from mail_gateway import server as mail_server
from mail_gateway.metrics import spool_metrics
from paraphe import poller_election, templating
from paraphe.dispatch import Dispatcher
from paraphe.db import close_database, open_database
from paraphe.settings import Settings
from paraphe.sweep_leases import SweepLeases, instance_name
from sms_gateway.sender import sender_for as sms_sender_for
from web import webhook_delivery
from web.app import start_web
from web.telegram_webhook import TelegramInbox
from workflows import sweeps
from workflows.services import Services

log = logging.getLogger("paraphe")


def schedule_sweeps(scheduler: AsyncIOScheduler, svc: Services,
                    holder: str | None = None) -> SweepLeases:
    """The core's sweeps and the bot's (its tables are cleaned even where it does not poll),
    each run by one instance per period (a lease in the database) unless every instance
    must run it."""
    fleet = SweepLeases(holder or instance_name())
    for module in (sweeps, bot_sweeps):
        for name, seconds in module.SCHEDULE.items():
            job = getattr(module, name)
            if name not in module.EVERY_INSTANCE:
                job = fleet.leased(name, seconds, job)
            scheduler.add_job(job, "interval", seconds=seconds, args=[svc],
                              id=name, max_instances=1, coalesce=True)
    return fleet


async def _take_telegram_updates(settings: Settings, bot, inbox: TelegramInbox | None,
                                 announce):
    """Takes the bot's updates from the webhook (every instance), else by polling; returns
    what stops it."""
    if inbox is not None:
        from bot.webhook import WebhookKeeper

        keeper = WebhookKeeper(bot.bot, settings.telegram_webhook_url, inbox.secret)
        inbox.accept = bot.accept
        registered = await keeper.start()
        announce(f"telegram bot: webhook {settings.telegram_webhook_url}" if registered
                 else "telegram bot: webhook not registered yet (see the log); trying again")

        async def stop() -> None:
            inbox.accept = None  # Telegram's next deliveries go to the other instances.
            await keeper.stop()
        return stop
    return await _poll_telegram(settings, bot, announce)


async def _poll_telegram(settings: Settings, bot, announce):
    """Polls Telegram here, or only while elected when several instances may share the
    database; returns what stops it."""
    if not poller_election.is_postgres(settings.database_url):
        bot.start_polling()
        announce("telegram bot: polling")
        return bot.stop_polling
    election = poller_election.AdvisoryLockElection(
        settings.database_url, poller_election.TELEGRAM_POLLER, what="telegram polling",
        on_elected=bot.start_polling, on_deposed=bot.stop_polling)
    elected = await election.start()
    announce("telegram bot: polling" if elected
             else "telegram bot: another instance polls; this one takes over if it stops")
    return election.stop


async def serve(settings: Settings, *, stop: asyncio.Event | None = None,
                announce=print) -> None:
    """Runs until SIGINT/SIGTERM (or `stop` is set), then stops every part cleanly."""
    # Also run by `paraphe` itself; here for whoever serves without the command line.
    compat.install_all()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Not the main thread (tests).
            pass
    templating.set_timezone(settings.timezone)
    await open_database(settings)
    svc = await Services.start(settings, templating)
    if not settings.platform_siren:
        # EN 319 412-3 wants a legal person's seal to name its registration number.
        log.warning("PARAPHE_PLATFORM_SIREN is not set: the platform's own seal (evidence "
                    "reports) names no organizationIdentifier; set the operator's SIREN")
    warm = svc.engine.warm_up()
    if asyncio.iscoroutine(warm):
        await warm
    closers = []
    inbox = None
    if settings.telegram_token and settings.telegram_webhook_url:
        # lazy: aiogram's types take seconds to import; only a service with a bot pays.
        from bot.webhook import secret_token

        inbox = TelegramInbox(settings.telegram_webhook_path,
                              secret_token(settings, settings.telegram_token.get_secret_value()))
    try:
        runner = await start_web(svc, metrics=(spool_metrics,), telegram=inbox)
        closers.append(runner.cleanup)
        announce(f"web: {settings.public_url} "
                 f"(listening on {settings.web_host}:{settings.web_port})")
        gateway = await mail_server.start_gateway(svc)
        closers.append(gateway.close)
        announce(f"smtp: {settings.smtp_host}:{getattr(gateway, 'port', settings.smtp_port)}"
                 f" (seal@{settings.mail_domain})")
        # On PostgreSQL the DKIM key may have been made on another instance: fetched first.
        await dkim_key.fetch_shared(settings, settings.dkim_selector)
        senders = {"mail": mail_delivery.MailSender(svc)}
        target = settings.smtp_relay or str(settings.home / "outbox")
        announce(f"outgoing mail: {target}")
        texts = sms_sender_for(settings)
        try:  # An SMPP session bound at start takes the receipts of earlier messages.
            await texts.open()
        except Exception as exc:  # noqa: BLE001 - retried with each message it sends.
            log.warning("SMS provider not reachable at start: %s", exc)
        senders["sms"] = texts
        announce(f"text messages: {texts.describe()}")
        hooks = await webhook_delivery.start_webhook_worker(svc)
        closers.append(hooks.stop)
        if settings.telegram_token:
            # lazy: aiogram's types take seconds to import; only a service with a bot pays.
            from bot import app as bot_app
            from bot.delivery import TelegramSender

            # Every instance sends; with a webhook every instance takes updates, else one
            # polls (paraphe.poller_election on PostgreSQL).
            bot = await bot_app.start_bot(svc, poll=False)
            closers.append(bot.stop)
            senders["telegram"] = TelegramSender(svc, bot.bot)
            closers.append(await _take_telegram_updates(settings, bot, inbox, announce))
        # One dispatcher for every channel; stopped before the bot whose session it uses.
        dispatcher = Dispatcher(svc, senders)
        dispatcher.start()
        closers.append(dispatcher.stop)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        schedule_sweeps(scheduler, svc)
        scheduler.start()
        closers.append(lambda: scheduler.shutdown(wait=False))
        announce("Paraphe is running; Ctrl-C stops it.")
        await stop.wait()
        announce("stopping…")
    finally:
        for close in reversed(closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # One part failing to stop must not keep the others running.
                log.exception("error while stopping")
        await svc.close()
        await close_database()
