"""A reply's message put together in a worker process: its templates rendered, its MIME
assembled with the stored files it attaches (read there, by path) and DKIM-signed. The
email package's pure-Python work and the big buffers (a sealed PDF, its base64, the message)
stay out of the service's process; mail_gateway.delivery gathers what it needs from the
database and hands over a ReplySpec."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage

import dkim

from mail_gateway.html_mail import html_part
from mail_gateway.maildir import Maildir
from paraphe import templating
from paraphe.templating import render
from workflows.text import clean_line


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


@dataclass(frozen=True)
class ReplySpec:
    """Everything a worker needs to write one reply (small: the files travel as paths)."""

    template: str  # under templates/mail/
    language: str
    context: dict  # the templates' context
    link_context: dict  # the notification's own context, for the HTML part's button
    sender: str  # the From field
    recipient: str
    reply_to: str | None
    message_id: str
    date: str
    in_reply_to: str | None  # checked by mime.thread_id, written verbatim
    references: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (file name, local path of the stored document)
    timezone: str  # the service's, for the dates the templates write
    dkim: tuple[bytes, bytes, bytes] | None  # (selector, domain, private key PEM)


# --- Worker side. ---------------------------------------------------------------------

def compose_in_worker(spec: ReplySpec) -> bytes:
    """The message's bytes (DKIM-signed when a key is given)."""
    templating.set_timezone(spec.timezone)
    subject, body = render_mail(f"mail/{spec.template}", spec.language, spec.context)
    msg = EmailMessage()
    msg["From"] = spec.sender
    msg["To"] = spec.recipient
    if spec.reply_to:
        msg["Reply-To"] = spec.reply_to
    # Header values come from cleaned text; cleaned again here, as a reply recorded before
    # that cleaning existed may still wait, and a line break would make it unbuildable.
    # The subject is encoded here, the threading ids written verbatim (printable ASCII).
    msg["Subject"] = encoded_header("Subject", clean_line(subject))
    msg["Date"] = spec.date
    msg["Message-ID"] = spec.message_id
    if spec.in_reply_to:
        msg["In-Reply-To"] = VerbatimHeader("In-Reply-To", spec.in_reply_to)
    if spec.references:
        msg["References"] = VerbatimHeader("References", "\n ".join(spec.references))
    # RFC 3834: robots must not answer this one, which prevents mail loops.
    msg["Auto-Submitted"] = "auto-replied" if spec.in_reply_to else "auto-generated"
    msg.set_content(body)
    # The same words for webmail: multipart/alternative, text first (RFC 2046).
    msg.add_alternative(html_part(spec.template, spec.language, body, spec.link_context),
                        subtype="html")
    for filename, _path in spec.files:
        msg.add_attachment(b"", maintype="application", subtype="pdf", filename=filename)
    # Last: set_content and the multipart conversions move or drop the Content-* fields.
    msg["Content-Language"] = spec.language
    raw = _assemble(msg, [path for _name, path in spec.files])
    if spec.dkim is not None:
        raw = _sign(raw, *spec.dkim)
    return raw


def deliver_in_worker(spec: ReplySpec, root: str, name: str, prefix: bytes) -> bool:
    """Composes the reply and writes it, after `prefix`, into the Maildir at `root` under
    `name` (once: see Maildir.deliver): its bytes never reach the service's process."""
    return Maildir(root).deliver(name, prefix + compose_in_worker(spec))


def _assemble(msg: EmailMessage, paths: list[str]) -> bytes:
    """The message's bytes, with each file in base64 in its (empty) attachment part.

    The email package writes a big attachment line by line in Python and scans it for
    the boundary, half a second for 10 MB; base64 lines cannot hold a boundary line, so
    each file goes in with one C-speed encoding, in place of a placeholder. The files are
    read one at a time, each freed once encoded.
    """
    tokens = []
    for part in msg.iter_attachments():
        token = f"paraphe-attachment-{secrets.token_hex(16)}"
        part.set_payload(token + "\n")
        tokens.append(token.encode() + b"\n")
    raw = msg.as_bytes()
    for token, path in zip(tokens, paths, strict=True):
        head, found, tail = raw.partition(token)
        if not found:
            raise RuntimeError("an attachment placeholder went missing from the message")
        with open(path, "rb") as fh:
            encoded = base64.encodebytes(fh.read())
        raw = b"".join((head, encoded, tail))
        del head, tail, encoded
    return raw


def _sign(raw: bytes, selector: bytes, domain: bytes, key: bytes) -> bytes:
    signature = dkim.sign(raw, selector, domain, key,
                          include_headers=[b"from", b"to", b"subject", b"date",
                                           b"message-id", b"in-reply-to", b"references"])
    return signature + raw
