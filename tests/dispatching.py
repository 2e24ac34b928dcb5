"""Notification dispatchers for tests, built as `paraphe serve` builds its own."""

from __future__ import annotations

from mail_gateway.delivery import MailSender
from paraphe.dispatch import Dispatcher


def mail_dispatcher(svc, **kw) -> Dispatcher:
    """The dispatcher of a service without a bot: every notice goes by mail."""
    return Dispatcher(svc, {"mail": MailSender(svc)}, **kw)


def service_dispatcher(svc, bot=None, **kw) -> Dispatcher:
    """The dispatcher of a service, with the chat when `bot` (a running BotHandle) is given."""
    senders = {"mail": MailSender(svc)}
    if bot is not None:
        from bot.delivery import TelegramSender

        senders["telegram"] = TelegramSender(svc, bot.bot)
    return Dispatcher(svc, senders, **kw)


def sms_dispatcher(svc, sender=None, **kw) -> Dispatcher:
    """A dispatcher of text messages only, through `sender` (the deployment's by default)."""
    from sms_gateway.sender import sender_for

    return Dispatcher(svc, {"sms": sender or sender_for(svc.settings)}, **kw)
