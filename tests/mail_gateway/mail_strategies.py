"""Hypothesis strategies for hostile and broken mail, as raw bytes with CRLF line ends.

Header values are encoded words holding control characters and bad charsets, raw 8-bit
bytes, long runs; bodies are single parts with or without a charset, multiparts nested (past
the gateway's depth limit too), truncated, with RFC 2231 parameters (the empty `filename*`
that the email package cannot read), `multipart/report` bounces; attachments are PDFs or not.
Every value keeps CR and LF out of the raw bytes but for line ends, so that what smtplib
sends is what the gateway stores (its content hash identifies the mail).
"""

from __future__ import annotations

import base64
from functools import cache

from hypothesis import strategies as st

from tests.pdfs import make_pdf

CRLF = b"\r\n"
# Bytes a hostile encoded word carries: controls first, then anything.
_NASTY = st.one_of(st.sampled_from([b"\x00", b"\r", b"\n", b"\r\n", b"\x1b", b"\x7f", b"\x85",
                                    b"\xc2\x85", b"\xe2\x80\xae", b"\xef\xbf\xbd", b"\xff",
                                    b"\xed\xa0\x80", b"\xe9"]),
                   st.binary(min_size=1, max_size=12))
_WORDS = st.sampled_from([b"Lettre", b"de", b"mission", b"[dupont]", b"[EXT]", b"Re:", b"Fwd:",
                          b"\xc3\xa9t\xc3\xa9", b"\xe9t\xe9", b"<", b">", b"@", b'"', b"=?",
                          b"?=", b";", b"(c)"])
_CHARSETS = st.sampled_from([b"utf-8", b"iso-8859-1", b"windows-1252", b"x-bogus", b"utf-16",
                             b"unknown-8bit", b"us-ascii", b"", b"utf-7"])

# RFC 3834 / 3464 robot markers, as the issue lists them, and ones that are not.
ROBOT_HEADERS = [b"Auto-Submitted: auto-replied", b"Auto-Submitted: auto-generated",
                 b"Auto-Submitted: auto-notified", b"X-Autoreply: yes", b"X-Autorespond: yes",
                 b"Precedence: bulk", b"Precedence: junk", b"Precedence: auto_reply",
                 b"Precedence: list", b"List-Id: Clients <clients.dupont.fr>"]
HUMAN_HEADERS = [b"Auto-Submitted: no", b"Precedence: normal", b"X-Mailer: Thunderbird"]


@cache
def pdf(n: int) -> bytes:
    return make_pdf(text=f"Document {n}")


@st.composite
def encoded_word(draw) -> bytes:
    payload = b"".join(draw(st.lists(st.one_of(_NASTY, _WORDS), min_size=1, max_size=4)))
    charset = draw(_CHARSETS)
    if draw(st.booleans()):
        return b"=?" + charset + b"?B?" + base64.b64encode(payload) + b"?="
    return b"=?" + charset + b"?Q?" + b"".join(b"=%02X" % c for c in payload) + b"?="


def _raw_8bit() -> st.SearchStrategy[bytes]:
    # Undeclared 8-bit: anything but the line ends.
    return st.binary(min_size=1, max_size=12).map(
        lambda b: b.replace(b"\r", b"").replace(b"\n", b"") or b"x")


def header_text() -> st.SearchStrategy[bytes]:
    pieces = st.lists(st.one_of(_WORDS, encoded_word(), _raw_8bit(), st.just(b"x" * 200)),
                      min_size=0, max_size=5)
    return pieces.map(lambda p: b" ".join(p))


@st.composite
def message_id(draw) -> bytes | None:
    kind = draw(st.sampled_from(["plain", "word", "raw", "none"]))
    if kind == "none":
        return None
    if kind == "plain":
        return b"<%d.%s@dupont.fr>" % (draw(st.integers(0, 10**9)),
                                       draw(st.sampled_from([b"a", b"b.c", b"x-y"])))
    if kind == "word":
        return b"<" + draw(encoded_word()) + b"@dupont.fr>"
    return b"<" + draw(_raw_8bit()).replace(b">", b"") + b"@dupont.fr>"


@st.composite
def filename_param(draw) -> bytes:
    name = draw(st.sampled_from([b"lettre.pdf", b"../../etc/passwd.pdf", b"a\\b.pdf", b""]))
    kind = draw(st.sampled_from(["plain", "2231", "2231-empty", "word", "8bit", "none"]))
    if kind == "plain":
        return b'; filename="' + name + b'"'
    if kind == "2231":
        value = b"".join(b"%%%02X" % c for c in draw(st.binary(max_size=8)) + name)
        return b"; filename*=" + draw(_CHARSETS) + b"''" + value
    if kind == "2231-empty":
        return b"; filename*"
    if kind == "word":
        return b'; filename="' + draw(encoded_word()) + b'.pdf"'
    if kind == "8bit":
        return b'; filename="' + draw(_raw_8bit()).replace(b'"', b"") + b'.pdf"'
    return b""


@st.composite
def attachment(draw) -> tuple[bytes, bool]:
    """A part and whether it is a PDF that can be sealed."""
    kind = draw(st.sampled_from(["pdf", "pdf", "not-pdf", "truncated-pdf", "empty"]))
    data = {"pdf": pdf(draw(st.integers(0, 3))), "not-pdf": b"PK\x03\x04 not a pdf",
            "truncated-pdf": pdf(0)[:200], "empty": b""}[kind]
    ctype = draw(st.sampled_from([b"application/pdf", b"application/octet-stream"]))
    disposition = draw(st.sampled_from([b"attachment", b"inline"]))
    body = base64.encodebytes(data).replace(b"\n", CRLF)
    part = (b"Content-Type: " + ctype + CRLF + b"Content-Transfer-Encoding: base64" + CRLF
            + b"Content-Disposition: " + disposition + draw(filename_param()) + CRLF + CRLF
            + body)
    return part, kind == "pdf"


@st.composite
def text_part(draw) -> bytes:
    lines = draw(st.lists(header_text(), max_size=3))
    charset = draw(st.one_of(st.none(), _CHARSETS))
    head = b"Content-Type: text/plain" + (b"; charset=" + charset if charset else b"")
    return head + CRLF + CRLF + CRLF.join(lines) + CRLF


@st.composite
def multipart(draw, depth: int = 0) -> bytes:
    boundary = b"b%d-%d" % (depth, draw(st.integers(0, 999)))
    children = [draw(text_part())] + [draw(attachment())[0]
                                      for _ in range(draw(st.integers(0, 2)))]
    if depth < 2 and draw(st.booleans()):
        children.append(draw(multipart(depth + 1)))
    subtype = draw(st.sampled_from([b"mixed", b"mixed", b"alternative", b"related"]))
    body = b"".join(b"--" + boundary + CRLF + child for child in children)
    if draw(st.integers(0, 5)) > 0:  # Now and then the closing boundary is missing.
        body += b"--" + boundary + b"--" + CRLF
    return b"Content-Type: multipart/" + subtype + b"; boundary=" + boundary + CRLF + CRLF + body


def nested(depth: int, inner: bytes) -> bytes:
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
                       for i in range(depth))
    return opening + inner + b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))


def report(original: bytes) -> bytes:
    """A delivery-status notification (RFC 3464) carrying the original message."""
    return (b"Content-Type: multipart/report; report-type=delivery-status; boundary=R" + CRLF
            + CRLF + b"--R" + CRLF + b"Content-Type: text/plain" + CRLF + CRLF
            + b"Delivery failed." + CRLF + b"--R" + CRLF
            + b"Content-Type: message/delivery-status" + CRLF + CRLF
            + b"Reporting-MTA: dns; mx.dupont.fr" + CRLF + CRLF
            + b"Final-Recipient: rfc822; x@dupont.fr" + CRLF + b"Action: failed" + CRLF
            + b"Status: 5.0.0" + CRLF + b"--R" + CRLF + b"Content-Type: message/rfc822" + CRLF
            + CRLF + original + b"--R--" + CRLF)


class Mail:
    """One generated mail: its raw bytes, the envelope, and what the issue says it is."""

    def __init__(self, raw: bytes, mail_from: str, command: str, robot: bool) -> None:
        self.raw, self.mail_from, self.command = raw, mail_from, command
        self.robot = robot  # a robot per RFC 3834 / 3464: never answered, never billed

    def __repr__(self) -> str:  # The whole message would make Hypothesis' report unreadable.
        return f"Mail({self.raw[:300]!r}…, mail_from={self.mail_from!r}, robot={self.robot})"


@st.composite
def body(draw) -> tuple[bytes, bool]:
    """The MIME part of a message (its Content-Type onwards) and whether it is a DSN."""
    kind = draw(st.sampled_from(["text", "multi", "multi", "multi", "deep", "very-deep",
                                 "report", "truncated"]))
    if kind == "text":
        return draw(text_part()), False
    if kind == "deep":
        return nested(draw(st.integers(3, 40)), draw(attachment())[0]), False
    if kind == "very-deep":
        return nested(1000, draw(text_part())), False
    if kind == "report":
        original = (b"From: paul@dupont.fr" + CRLF + b"Subject: Lettre" + CRLF
                    + b"MIME-Version: 1.0" + CRLF + draw(multipart()))
        return report(original), True
    part = draw(multipart())
    if kind == "truncated":
        part = part[:draw(st.integers(10, max(10, len(part) - 1)))]
        part = part.replace(b"\r", b"").replace(b"\n", CRLF)  # No line end left half.
    return part + (b"" if part.endswith(CRLF) else CRLF), False


@st.composite
def mail(draw, secret_of: dict) -> Mail:
    """A mail to a secret address of one of `secret_of` (address -> mail secret)."""
    command = draw(st.sampled_from(["seal", "seal", "seal", "verify", "help"]))
    who = draw(st.sampled_from(sorted(secret_of)))
    null_sender = draw(st.integers(0, 19)) == 0
    markers = []
    if draw(st.integers(0, 3)) == 0:  # About one mail in five comes from a robot.
        markers = draw(st.lists(st.sampled_from(ROBOT_HEADERS + HUMAN_HEADERS), max_size=2,
                                unique_by=lambda h: h.split(b":")[0]))
    mime_part, is_report = draw(body())
    headers = [b"From: " + draw(header_text()).replace(b"<", b"").replace(b">", b"")
               + b" <" + who.encode() + b">",
               b"To: " + command.encode() + b"@paraphe.localhost",
               b"Subject: " + draw(header_text())]
    mid = draw(message_id())
    if mid is not None:
        headers.append(b"Message-ID: " + mid)
    if draw(st.booleans()):
        refs = [m for m in draw(st.lists(message_id(), max_size=3)) if m] or [b"<r@dupont.fr>"]
        headers.append(b"References: " + b" ".join(refs))
    headers += markers
    headers.append(b"MIME-Version: 1.0")
    raw = CRLF.join(headers) + CRLF + mime_part
    robot = null_sender or is_report or any(m in ROBOT_HEADERS for m in markers)
    rcpt_secret = secret_of[who]
    return Mail(raw=raw, mail_from="" if null_sender else who,
                command=f"{command}+{rcpt_secret}", robot=robot)
