"""Reading delivery status notifications (RFC 3464 multipart/report) with the email package.

flufl.bounce was considered: it guesses bouncing addresses from many non-standard formats,
but answers with addresses only. With VERP the address is known already (the token names
the notification); what is needed is each recipient's Action, Status and Diagnostic-Code,
which the email package parses from `message/delivery-status` as header blocks, with no new
dependency. A report that is not a DSN (an auto-reply sent to the return path) gives None.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message

from mail_gateway.mime import thread_id
from workflows.text import clean_line

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers",
                  "message/global-headers")
# Most telling first: a report about several recipients of one message counts as its worst.
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


@dataclass(frozen=True)
class DeliveryReport:
    """What a DSN says of the message (its worst recipient)."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # the enhanced status code, e.g. "5.1.1" ("" when absent)
    diagnostic: str  # the remote server's words, one clean line ("" when absent)
    recipient: str  # Final-Recipient's address ("" when absent)
    original_message_id: str | None  # the reported message's Message-ID, when included


def parse(raw: bytes) -> DeliveryReport | None:
    """The report a DSN carries, or None when the message is not one (blocking: CPU-bound)."""
    message = message_from_bytes(raw, policy=policy.compat32)
    blocks, original = None, None
    for part in message.walk():
        kind = part.get_content_type()
        if kind in STATUS_TYPES and blocks is None:
            blocks = _blocks(part)
        elif kind in ORIGINAL_TYPES and original is None:
            original = _original_message_id(part)
    if not blocks:
        return None
    recipients = [b for b in blocks[1:] if b.get("Action")] or []
    if not recipients:
        return None
    worst = min(recipients, key=lambda b: _rank(_field(b, "Action").lower()))
    return DeliveryReport(
        action=_field(worst, "Action").lower(), status=_field(worst, "Status"),
        diagnostic=_after_type(_field(worst, "Diagnostic-Code", 500)),
        recipient=_after_type(_field(worst, "Final-Recipient")),
        original_message_id=original)


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    # Sent with a transfer encoding, the email package leaves the fields as text.
    text = part.get_payload(decode=True) or b""
    return [message_from_bytes(chunk.strip() + b"\n", policy=policy.compat32)
            for chunk in text.replace(b"\r\n", b"\n").split(b"\n\n") if chunk.strip()]


def _original_message_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        headers = payload[0]
    else:
        data = part.get_payload(decode=True) or b""
        headers = message_from_bytes(data.split(b"\n\n", 1)[0] + b"\n",
                                     policy=policy.compat32)
    return thread_id(str(headers.get("Message-ID") or "").strip()) or None


def _rank(action: str) -> int:
    return ACTIONS.index(action) if action in ACTIONS else len(ACTIONS)


def _field(block: Message, name: str, limit: int = 200) -> str:
    return clean_line(str(block.get(name) or ""), limit)


def _after_type(value: str) -> str:
    """`smtp; 550 …` → `550 …`, `rfc822; a@b` → `a@b` (RFC 3464's typed fields)."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and kind.strip().replace("-", "").isalnum() else value
