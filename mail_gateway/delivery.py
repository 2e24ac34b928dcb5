"""Outgoing mail: notifications of channel "mail" rendered from templates/mail and delivered.

To the Maildir `$PARAPHE_HOME/outbox` by default, each notification under a name of its own
so that a retry after a crash never writes a second copy; or through PARAPHE_SMTP_RELAY with
aiosmtplib. The dispatcher (paraphe.dispatch) claims the notifications, hands them to
MailSender and retries failures with the backoff of workflows.notifications; a relay's 5xx
for the message is a permanent failure (workflows.deliveries.refused). The envelope sender is
the notification's VERP address, bounce+<token>@<mail domain>, where its bounces come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from email.utils import format_datetime

import aiosmtplib

from mail_gateway import composing, dkim_key
from mail_gateway.composing import render_mail
from mail_gateway.maildir import Maildir
from mail_gateway.mime import thread_id
from mail_gateway.reply_to import reply_to
from workflows import clock, deliveries, notifications
from workflows.services import Services
from workflows.text import clean_line
from workflows.models import Document, Notification


# Replies carrying more than this are composed one at a time: each holds its PDFs, their
# base64 text and the message bytes at once.
LARGE_REPLY = 2 * 1024 * 1024

# What the outbox command and the tests import from here.
__all__ = ["Maildir", "MailSender", "permanent_refusal", "poke", "render_mail"]


def poke() -> None:
    """Wakes the dispatchers of this process: a reply was just recorded."""
    notifications.nudge()


def message_id_for(notification: Notification, domain: str) -> str:
    """A Message-ID stable across retries of the same notification."""
    seed = f"{notification.id}:{notification.dedup_key or ''}:{notification.created_at.isoformat()}"
    return f"<paraphe.{notification.id}.{hashlib.sha256(seed.encode()).hexdigest()[:16]}@{domain}>"


class MailSender:
    """The "mail" sender of the dispatcher (paraphe.dispatch): composes a notification from
    templates/mail and delivers it; `send` returns its Message-ID.

    A relay's refusal for good (5xx) raises DeliveryRefused; anything else is retried by the
    dispatcher with the outbox's backoff.
    """

    # Mail is sent side by side: a batch of replies need not wait for one slow relay.
    concurrent = True

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.settings = svc.settings
        self.maildir = Maildir(self.settings.home / "outbox")
        self._large = asyncio.Semaphore(1)
        # The PEM stays in memory: the stored key is encrypted at rest (mail_gateway.dkim_key).
        self._dkim_key: bytes | None = dkim_key.signing_pem(self.settings)

    @property
    def resends_safely(self) -> bool:
        """Whether sending a notification twice gives one message: into the Maildir a second
        attempt cannot write twice (the file name is the notification's), so the dispatcher
        takes back at start the claims a killed process left in "sending" rather than wait
        minutes for them to go stale. Through a relay it could be a second mail."""
        return not self.settings.smtp_relay

    async def send(self, notification: Notification) -> str:
        if await self._attachment_bytes(notification) > LARGE_REPLY:
            async with self._large:
                return await self._send_now(notification)
        return await self._send_now(notification)

    async def _send_now(self, notification: Notification) -> str:
        """Composes and hands over one mail notification (to the relay, or into the Maildir);
        returns its Message-ID. Raises DeliveryRefused when the relay refuses it for good
        (5xx); any other error is worth a retry."""
        if self.settings.smtp_relay:
            message_id, data = await self.compose(notification)
            await self._relay(notification, data)
            return message_id
        spec = await self._spec(notification)
        name = self.maildir.name_for(notification, spec.message_id)
        # An MTA writes the envelope sender as Return-Path when it delivers into a Maildir;
        # the embedded outbox is such a final delivery, so it keeps the VERP address too.
        path = deliveries.return_path(self.settings, notification.id)
        # Composed and written by the worker: the message's bytes never come back here.
        await self.svc.engine.call(composing.deliver_in_worker, spec, str(self.maildir.root),
                                   name, f"Return-Path: <{path}>\n".encode())
        return spec.message_id

    async def _attachment_bytes(self, notification: Notification) -> int:
        # The sizes the store recorded: a document need not be in this instance's folder.
        shas = [item["sha256"] for item in notification.attachments or []]
        if not shas:
            return 0
        return sum(await Document.filter(sha256__in=shas).values_list("size", flat=True))

    async def compose(self, notification: Notification) -> tuple[str, bytes]:
        """The message's Message-ID and bytes (DKIM-signed when a key is configured)."""
        spec = await self._spec(notification)
        return spec.message_id, await self.svc.engine.call(composing.compose_in_worker, spec)

    async def _spec(self, notification: Notification) -> composing.ReplySpec:
        """What a worker composes the reply from: the database's part of the work."""
        domain = self.settings.mail_domain
        thread = notification.thread or {}
        # The template writes the subject on its `Subject:` line: one clean line, always.
        thread = {**thread, "subject": clean_line(thread.get("subject"))}
        context = {**notification.context, "thread": thread, "recipient": notification.recipient,
                   "public_url": self.settings.public_url}
        files = tuple([(item["filename"],
                        str(await self.svc.documents.local_path(item["sha256"])))
                       for item in notification.attachments or []])
        dkim = None
        if self._dkim_key is not None:
            dkim = (self.settings.dkim_selector.encode(), domain.encode(), self._dkim_key)
        return composing.ReplySpec(
            template=notification.template, language=notification.language, context=context,
            link_context=notification.context or {},
            sender=f"Paraphe <{thread.get('from') or 'noreply@' + domain}>",
            recipient=notification.recipient, reply_to=await reply_to(self.settings, notification),
            message_id=message_id_for(notification, domain), date=format_datetime(clock.now()),
            in_reply_to=thread_id(thread.get("in_reply_to")),
            references=tuple(r for r in str(thread.get("references") or "").split()
                             if thread_id(r)),
            files=files, timezone=self.settings.timezone, dkim=dkim)

    async def _relay(self, notification: Notification, data: bytes) -> None:
        host, _, port = self.settings.smtp_relay.rpartition(":")
        if not host:
            host, port = self.settings.smtp_relay, "25"
        # VERP: a bounce comes back to bounce+<token>@ and names this notification.
        sender = deliveries.return_path(self.settings, notification.id)
        try:
            await aiosmtplib.send(data, sender=sender, recipients=[notification.recipient],
                                  hostname=host, port=int(port), timeout=30)
        except aiosmtplib.SMTPException as exc:
            refusal = permanent_refusal(exc)
            if refusal is not None:
                raise refusal from exc
            raise
        await deliveries.accepted(notification)


# Enhanced status codes (RFC 3463) and the words of relays that do not send them, which say
# the mailbox does not exist: 5.1.1 bad destination mailbox, 5.1.10 null MX (RFC 7505).
_UNKNOWN_STATUS_RE = re.compile(r"\b5\.1\.(?:1|10)\b")
_UNKNOWN_WORDS_RE = re.compile(r"user unknown|unknown user|no such (?:user|mailbox|recipient)|"
                               r"mailbox (?:unavailable|not found)|does not exist",
                               re.IGNORECASE)


def permanent_refusal(exc: Exception) -> notifications.DeliveryRefused | None:
    """The permanent failure an aiosmtplib error stands for, or None when it is worth a retry.

    Only a 5xx about this message counts: a recipient refused (RCPT) or the message refused
    (end of DATA). A 4xx, a lost connection, and a 5xx to our own greeting, sender or login
    (the relay refusing us, not the address: a configuration of ours to fix, which must not
    mark every signer failing) are retried with the backoff of workflows.notifications.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        found = [r for r in exc.recipients if r.code >= 500]
        if not found:
            return None
        exc = found[0]
    if not isinstance(exc, (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError)):
        return None
    if exc.code < 500:
        return None
    text = clean_line(f"{exc.code} {exc.message}", 500)
    unknown = _UNKNOWN_STATUS_RE.search(exc.message or "") or (
        exc.code in (550, 551, 553) and _UNKNOWN_WORDS_RE.search(exc.message or ""))
    return notifications.DeliveryRefused("mailbox_unknown" if unknown else "relay_refused", text)
