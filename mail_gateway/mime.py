"""Parsing an accepted message: threading headers, the attached files, its content hash."""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
import io
import re
from dataclasses import dataclass, field
from email.header import decode_header
from email.parser import BytesParser
from email.utils import getaddresses

from mail_gateway.addresses import single_address
from mail_gateway.errors import MessageUnreadableError
from workflows.text import LINE_LIMIT, NAME_LIMIT, TEXT_LIMIT, clean_line, clean_text, decode_bytes

# Header fields that relays add or rewrite on the way: a redelivery of the same message may
# carry different ones, so they do not count in the content hash.
TRACE_HEADERS = frozenset({
    b"received", b"return-path", b"delivered-to", b"x-original-to", b"authentication-results",
    b"arc-seal", b"arc-message-signature", b"arc-authentication-results", b"x-received",
})
_SUBJECT_TAG_RE = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9-]{1,62})\]")
_PATH_SEPARATORS_RE = re.compile(r"[/\\]+")
_SURROGATES_RE = re.compile("[\ud800-\udfff]")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID_RE = re.compile(r"<[^<>\s]{1,250}>")
# What may go into In-Reply-To and References unencoded: printable ASCII, no angle brackets.
_THREAD_ID_RE = re.compile(r"<[!-;=?-~]{1,250}>")
MESSAGE_ID_LIMIT = 250
FILENAME_LIMIT = 200
MAX_REFERENCES = 20
# Deeper than any mail client nests (a forward of a forward of a signed mail is about 6).
MAX_DEPTH = 32


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
    from_name: str = ""  # the From display name, cleaned
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
    """The message's id from a (cleaned) Message-ID value: its `<…>` part, else the value."""
    value = clean_line(str(raw_value) if raw_value is not None else "", MESSAGE_ID_LIMIT)
    match = _MSG_ID_RE.search(value)
    if match:
        return match.group(0)
    return value or None


def thread_id(value: str | None) -> str | None:
    """`value` when it can go into In-Reply-To or References as it is (printable ASCII)."""
    return value if value and _THREAD_ID_RE.fullmatch(value) else None


def parse(raw: bytes) -> InboundMail:
    """Parses a whole message (CPU-bound for big ones: call it in an executor).

    Every text it returns went through workflows.text's cleaning: nothing downstream gets a
    control character, a line break in a header value or an unbounded string. Raises
    MessageUnreadableError when the email package cannot read the structure.

    The parser is fed from a stream, in small chunks: given the whole message at once it
    splits it into one string per line before parsing, five times the message in memory.
    """
    try:
        msg = BytesParser(policy=email.policy.default).parse(io.BytesIO(raw))
        _check_depth(msg)
        return _inbound(msg)
    except MessageUnreadableError:
        raise
    except RecursionError:
        raise MessageUnreadableError("the MIME structure is nested too deeply",
                                     reason="too_deep") from None
    except Exception as exc:  # noqa: BLE001 - the email package raises many kinds of error.
        raise MessageUnreadableError(f"the MIME structure cannot be read ({type(exc).__name__})",
                                     reason="mime_error", error=type(exc).__name__) from None


def parse_headers_only(raw: bytes) -> InboundMail:
    """What can be read of a message whose MIME structure cannot: its cleaned header fields.

    The header section is parsed on its own with the compat32 policy, which does not
    interpret structured fields, so this does not fail where `parse` did.
    """
    end = re.search(rb"\r?\n\r?\n", raw)
    head = raw[:end.end()] if end else raw
    msg = BytesParser(policy=email.policy.compat32).parsebytes(head, headersonly=True)
    return _inbound(msg, body=False)


def _inbound(msg, *, body: bool = True) -> InboundMail:
    subject = _header(msg, "Subject")
    message_id = header_message_id(_header(msg, "Message-ID"))
    references = [r for r in _MSG_ID_RE.findall(_header(msg, "References") or
                                                _header(msg, "In-Reply-To")) if thread_id(r)]
    name, address = _from(msg)
    return InboundMail(
        message_id=message_id,
        subject=subject,
        from_address=address,
        from_name=name,
        references=references[-MAX_REFERENCES:],
        attachments=list(_attachments(msg)) if body else [],
        text=_plain_text(msg) if body else "",
    )


def _check_depth(msg) -> None:
    # The email package walks a message recursively; refuse a structure deeper than any
    # mail client writes before it exhausts the stack somewhere less convenient.
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MessageUnreadableError("the MIME structure is nested too deeply",
                                         reason="too_deep")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload)


def _from(msg) -> tuple[str, str | None]:
    value = _header(msg, "From")
    address = single_address(value)
    if address is not None:
        address = clean_line(address, 254) or None
    names = [n for n, a in getaddresses([value]) if a.strip().lower() == address] if address else []
    return clean_line(names[0] if names else "", NAME_LIMIT), address


def _plain_text(msg) -> str:
    # The first text/plain part that is not an attachment, read as its charset says or, when
    # it declares none (or one that does not decode it), as decode_bytes reads 8-bit text.
    # A broken body gives an empty text, never a failed message.
    for part in _walk(msg):
        if part.get_content_type() != "text/plain" or _disposition(part) == "attachment":
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001 - a broken transfer encoding.
            return ""
        return clean_text(_decode(data, part.get_content_charset()), TEXT_LIMIT)
    return ""


def _decode(data: bytes, charset: str | None) -> str:
    if charset and charset not in ("us-ascii", "ascii"):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError):
            pass
    return decode_bytes(data)


def _header(msg, name: str, limit: int = LINE_LIMIT) -> str:
    """A header field's value decoded and cleaned: RFC 2047 words, undeclared 8-bit bytes
    (UTF-8, then Windows-1252), then control characters dropped and the length bounded."""
    raw = None
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            raw = value
            break
    if raw is None:
        return ""
    if not isinstance(raw, str):  # compat32 may hold a Header object.
        raw = str(raw)
    if _SURROGATES_RE.search(raw):
        # The parser keeps 8-bit bytes as surrogates: read them back and decode them properly.
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"))
    raw = _FOLD_RE.sub(" ", raw)
    return clean_line(_decode_words(name, raw), limit)


def _decode_words(name: str, raw: str) -> str:
    try:
        value = str(email.policy.default.header_factory(name, raw))
    except Exception:  # noqa: BLE001 - email's header parsers raise many kinds of error.
        value = raw
    if "=?" in raw and ("\ufffd" in value or _SURROGATES_RE.search(value)):
        # An encoded word whose bytes are not in the charset it names: read them as undeclared.
        try:
            value = "".join(_decode(chunk, charset) if isinstance(chunk, bytes) and charset
                            else chunk.decode("raw-unicode-escape")
                            if isinstance(chunk, bytes) else chunk
                            for chunk, charset in decode_header(raw))
        except Exception:  # noqa: BLE001 - keep what the email package made of it.
            pass
    return value


def _walk(msg):
    """The parts of a message, depth first, without recursion (see _check_depth)."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed(payload))


def _disposition(part) -> str:
    return (part.get_content_disposition() or "").lower()


def _attachments(msg):
    count = 0
    for part in _walk(msg):
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        disposition = _disposition(part)
        filename = _filename(part)
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


def _filename(part) -> str:
    """The part's file name (RFC 2231 or 2047), with undeclared 8-bit read as decode_bytes does."""
    fields = [(k, v) for k, v in part.raw_items()
              if k.lower() in ("content-disposition", "content-type")]
    if any(_SURROGATES_RE.search(str(v)) for _k, v in fields):
        copy = email.message.Message()
        for key, value in fields:
            copy[key] = decode_bytes(str(value).encode("ascii", "surrogateescape"))
        name = copy.get_filename()
    else:
        name = part.get_filename()
    if name and "=?" in name:  # Many clients write RFC 2047 words inside a quoted filename.
        name = _decode_words("Subject", name)
    return name or ""


def _safe_filename(name: str | None, index: int) -> str:
    # No directory part may survive: "../x.pdf" becomes ".. x.pdf", then "x.pdf".
    name = clean_line(_PATH_SEPARATORS_RE.sub(" ", name or ""), FILENAME_LIMIT).lstrip(". ")
    return name if name else f"document-{index}.pdf"
