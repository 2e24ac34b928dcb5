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
import base64
import hashlib
import os
import re
import secrets
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
import dkim

from mail_gateway import dkim_key
from mail_gateway.html_mail import html_part
from mail_gateway.mime import thread_id
from mail_gateway.reply_to import reply_to
from paraphe.templating import render
from workflows import clock, deliveries, notifications
from workflows.services import Services
from workflows.text import clean_line
from workflows.models import Document, Notification


# Replies carrying more than this are composed one at a time: each holds its PDFs, their
# base64 text and the message bytes at once.
LARGE_REPLY = 2 * 1024 * 1024


def poke() -> None:
    """Wakes the dispatchers of this process: a reply was just recorded."""
    notifications.nudge()


# Refusals may reach someone who reads no French (a sender the service does not know well
# yet, a foreign firm's assistant): in French, the English follows below.
BILINGUAL = frozenset({"mail/sender/refused", "mail/sender/unreadable",
                       "mail/sender/internal_error"})
ENGLISH_BELOW = "\n\n— English version below —\n\n"
SIGNATURE = "\n-- \n"


def _subject_and_body(path: str, language: str, context: dict) -> tuple[str, str]:
    text = render(path, language, **context)
    first, _, body = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise ValueError(f"template {path} does not start with a Subject: line")
    return first.split(":", 1)[1].strip(), body.lstrip("\n")


def render_mail(path: str, language: str, context: dict) -> tuple[str, str]:
    """Renders templates/<path>; its first line is `Subject: …`, then a blank line, then the
    body. A refusal in French carries the English text below the French one, one signature."""
    subject, body = _subject_and_body(path, language, context)
    if path not in BILINGUAL or language == "en":
        return subject, body
    _, english = _subject_and_body(path, "en", context)
    french, separator, _ = body.rpartition(SIGNATURE)
    return subject, (french if separator else body).rstrip() + ENGLISH_BELOW + english


def message_id_for(notification: Notification, domain: str) -> str:
    """A Message-ID stable across retries of the same notification."""
    seed = f"{notification.id}:{notification.dedup_key or ''}:{notification.created_at.isoformat()}"
    return f"<paraphe.{notification.id}.{hashlib.sha256(seed.encode()).hexdigest()[:16]}@{domain}>"


_PLAIN_HEADER_RE = re.compile(r"[ -~]*")
# UTF-8 bytes per encoded word: 39 make 52 base64 characters, a 64-character word (RFC 2047
# allows 75).
_WORD_BYTES = 39


class VerbatimHeader(str):
    """A header value already encoded and folded (LF before each continuation line), which
    the email package writes as it is. Given text holding `=?…?=` (in a subject, or in a
    Message-ID), its header parser would read encoded words of the sender's making, and fail
    on `unknown-8bit` ones: text from a sender must never be read so."""

    def __new__(cls, name: str, value: str) -> VerbatimHeader:
        obj = super().__new__(cls, value)
        obj.name = name
        return obj

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self.replace(chr(10), policy.linesep)}{policy.linesep}"


def encoded_header(name: str, text: str) -> str:
    """`text` as it may go into a header: plain when it is printable ASCII with nothing that
    reads as an encoded word, else wholly as UTF-8 encoded words, one per folded line."""
    if _PLAIN_HEADER_RE.fullmatch(text) and "=?" not in text and len(text) < 900:
        return text
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode("utf-8")) > _WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    encoded = [f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode()}?=" for w in words]
    return VerbatimHeader(name, "\n ".join(encoded))


class Maildir:
    """The embedded outbox: tmp/, new/, cur/ under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def name_for(self, notification: Notification, message_id: str) -> str:
        token = message_id.strip("<>").split("@")[0]
        return f"{int(notification.created_at.timestamp())}.{token}.paraphe"

    def contains(self, name: str) -> bool:
        return (self.root / "new" / name).exists() or any(
            (self.root / "cur").glob(f"{name}:*")) or (self.root / "cur" / name).exists()

    def deliver(self, name: str, data: bytes) -> bool:
        """Writes the message once (fsynced); False when it was already there."""
        if self.contains(name):
            return False
        tmp = self.root / "tmp" / f"{name}.{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() refuses to replace: two workers racing on one notification write it once.
            os.link(tmp, self.root / "new" / name)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        fd = os.open(self.root / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def messages(self) -> list[Path]:
        return sorted([*(self.root / "new").iterdir(), *(self.root / "cur").iterdir()],
                      key=lambda p: p.name)


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
        message_id, data = await self.compose(notification)
        if self.settings.smtp_relay:
            await self._relay(notification, data)
            return message_id
        name = self.maildir.name_for(notification, message_id)
        # An MTA writes the envelope sender as Return-Path when it delivers into a Maildir;
        # the embedded outbox is such a final delivery, so it keeps the VERP address too.
        path = deliveries.return_path(self.settings, notification.id)
        data = f"Return-Path: <{path}>\n".encode() + data
        await asyncio.get_running_loop().run_in_executor(None, self.maildir.deliver, name, data)
        return message_id

    async def _attachment_bytes(self, notification: Notification) -> int:
        # The sizes the store recorded: a document need not be in this instance's folder.
        shas = [item["sha256"] for item in notification.attachments or []]
        if not shas:
            return 0
        return sum(await Document.filter(sha256__in=shas).values_list("size", flat=True))

    async def compose(self, notification: Notification) -> tuple[str, bytes]:
        """The message's Message-ID and bytes (DKIM-signed when a key is configured)."""
        domain = self.settings.mail_domain
        thread = notification.thread or {}
        # The template writes the subject on its `Subject:` line: one clean line, always.
        thread = {**thread, "subject": clean_line(thread.get("subject"))}
        context = {**notification.context, "thread": thread, "recipient": notification.recipient,
                   "public_url": self.settings.public_url}
        subject, body = render_mail(f"mail/{notification.template}", notification.language,
                                    context)
        message_id = message_id_for(notification, domain)
        msg = EmailMessage()
        msg["From"] = f"Paraphe <{thread.get('from') or 'noreply@' + domain}>"
        msg["To"] = notification.recipient
        answer_to = await reply_to(self.settings, notification)
        if answer_to:
            msg["Reply-To"] = answer_to
        # Header values come from cleaned text; cleaned again here, as a reply recorded before
        # that cleaning existed may still wait, and a line break would make it unbuildable.
        # The subject is encoded here, the threading ids written verbatim (printable ASCII).
        msg["Subject"] = encoded_header("Subject", clean_line(subject))
        msg["Date"] = format_datetime(clock.now())
        msg["Message-ID"] = message_id
        in_reply_to = thread_id(thread.get("in_reply_to"))
        references = [r for r in str(thread.get("references") or "").split() if thread_id(r)]
        if in_reply_to:
            msg["In-Reply-To"] = VerbatimHeader("In-Reply-To", in_reply_to)
        if references:
            msg["References"] = VerbatimHeader("References", "\n ".join(references))
        # RFC 3834: robots must not answer this one, which prevents mail loops.
        msg["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
        msg.set_content(body)
        # The same words for webmail: multipart/alternative, text first (RFC 2046).
        msg.add_alternative(html_part(notification.template, notification.language, body,
                                      notification.context or {}), subtype="html")
        files = []
        for item in notification.attachments or []:
            files.append(await self.svc.documents.read(item["sha256"]))
            msg.add_attachment(b"", maintype="application", subtype="pdf",
                               filename=item["filename"])
        # Last: set_content and the multipart conversions move or drop the Content-* fields.
        msg["Content-Language"] = notification.language
        raw = await asyncio.get_running_loop().run_in_executor(None, self._assemble, msg, files)
        return message_id, raw

    def _assemble(self, msg: EmailMessage, files: list[bytes]) -> bytes:
        """The message's bytes, with each file in base64 in its (empty) attachment part.

        The email package writes a big attachment line by line in Python and scans it for
        the boundary, half a second for 10 MB; base64 lines cannot hold a boundary line, so
        each file goes in with one C-speed encoding, in place of a placeholder.
        """
        tokens = []
        for part in msg.iter_attachments():
            token = f"paraphe-attachment-{secrets.token_hex(16)}"
            part.set_payload(token + "\n")
            tokens.append(token.encode() + b"\n")
        raw = msg.as_bytes()
        for token, data in zip(tokens, files, strict=True):
            head, found, tail = raw.partition(token)
            if not found:
                raise RuntimeError("an attachment placeholder went missing from the message")
            raw = b"".join((head, base64.encodebytes(data), tail))
        if self._dkim_key is not None:
            raw = self._sign(raw)
        return raw

    def _sign(self, raw: bytes) -> bytes:
        signature = dkim.sign(raw, self.settings.dkim_selector.encode(),
                              self.settings.mail_domain.encode(), self._dkim_key,
                              include_headers=[b"from", b"to", b"subject", b"date",
                                               b"message-id", b"in-reply-to", b"references"])
        return signature + raw

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
