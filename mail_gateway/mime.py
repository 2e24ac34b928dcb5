"""Parsing an accepted message: threading headers, the attached files, its content hash."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from email.parser import BytesParser

from mail_gateway.addresses import single_address

# Header fields that relays add or rewrite on the way: a redelivery of the same message may
# carry different ones, so they do not count in the content hash.
TRACE_HEADERS = frozenset({
    b"received", b"return-path", b"delivered-to", b"x-original-to", b"authentication-results",
    b"arc-seal", b"arc-message-signature", b"arc-authentication-results", b"x-received",
})
_SUBJECT_TAG_RE = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9-]{1,62})\]")
_UNSAFE_FILENAME_RE = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class InboundMail:
    """What the commands need from a message."""

    message_id: str | None
    subject: str
    from_address: str | None
    references: list[str]
    auto_submitted: bool
    attachments: list[Attachment] = field(default_factory=list)
    text: str = ""  # the plain-text body (collect@ reads its signer lines there)

    def subject_tags(self) -> list[str]:
        """The `[cabinet-slug]` tags of the subject, lower-cased, in order."""
        return [tag.lower() for tag in _SUBJECT_TAG_RE.findall(self.subject)]


def content_sha256(raw: bytes) -> str:
    """SHA-256 of the message without its trace headers (see TRACE_HEADERS)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    digest = hashlib.sha256()
    keep = True
    for line in re.split(rb"\r?\n", head):
        if line[:1] not in (b" ", b"\t"):  # A new field; continuation lines follow its fate.
            name = line.split(b":", 1)[0].strip().lower()
            keep = name not in TRACE_HEADERS
        if keep:
            digest.update(line.rstrip(b"\r") + b"\n")
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def message_key(message_id: str | None, content_hash: str, command: str) -> str:
    """The exactly-once key: Message-ID, content and the command address it was sent to."""
    return hashlib.sha256(f"{message_id or ''}\0{content_hash}\0{command}".encode()).hexdigest()


def header_message_id(raw_value) -> str | None:
    if raw_value is None:
        return None
    value = str(raw_value).strip()
    match = re.search(r"<[^<>\s]{1,250}>", value)
    if match:
        return match.group(0)
    return value[:250] or None


def parse(raw: bytes) -> InboundMail:
    """Parses a whole message (CPU-bound for big ones: call it in an executor).

    The parser is fed from a stream, in small chunks: given the whole message at once it
    splits it into one string per line before parsing, five times the message in memory.
    """
    msg = BytesParser(policy=email.policy.default).parse(io.BytesIO(raw))
    subject = _header(msg, "Subject")
    references = re.findall(r"<[^<>\s]+>", _header(msg, "References"))
    auto = _header(msg, "Auto-Submitted").strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    return InboundMail(
        message_id=header_message_id(_header(msg, "Message-ID") or None),
        subject=" ".join(subject.split()),
        from_address=single_address(_header(msg, "From")),
        references=references,
        auto_submitted=(auto not in ("", "no")) or precedence in ("bulk", "list", "junk"),
        attachments=list(_attachments(msg)),
        text=_plain_text(msg),
    )


def _plain_text(msg) -> str:
    # A broken or oddly encoded body gives an empty text, never a failed message.
    try:
        part = msg.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""
    except (KeyError, LookupError, ValueError, UnicodeError, AttributeError):
        return ""


def _header(msg, name: str) -> str:
    # A malformed header must not stop the message: fall back to its raw text.
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - email's header parsers raise many kinds of error.
        value = None
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    return str(value) if value is not None else ""


def _attachments(msg):
    count = 0
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
        ctype = part.get_content_type()
        if ctype.startswith("text/") and not filename and disposition != "attachment":
            continue  # The body of the message (or of a forwarded one).
        if part.get_content_maintype() == "image" and disposition != "attachment":
            continue  # Logos and pictures in signatures, shown inline.
        if not filename and disposition != "attachment" and ctype not in (
                "application/pdf", "application/octet-stream", "application/x-pdf"):
            continue
        count += 1
        data = part.get_payload(decode=True) or b""
        yield Attachment(filename=_safe_filename(filename, count), content_type=ctype, data=data)


def _safe_filename(name: str | None, index: int) -> str:
    name = os.path.basename(_UNSAFE_FILENAME_RE.sub(" ", name or "").strip())
    return name[:200] if name else f"document-{index}.pdf"
