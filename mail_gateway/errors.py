"""The ONE place where domain errors become SMTP status lines or reply mails."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from paraphe import templating
from workflows.errors import (
    CabinetAmbiguousError,
    CabinetNotFoundError,
    CreditInsufficientError,
    DelegationMissingError,
    DocumentMissingError,
    NotAMemberError,
    ParapheError,
    TermsNotAcceptedError,
)

# The gateway's own errors: the SMTP session and the mail it accepted, nothing the core
# raises. In the core's family (ParapheError), so each has its code and its reply.

class RecipientUnknownError(ParapheError):
    """This address is not served by Paraphe."""
    code, kind = "recipient_unknown", "not_found"


class SenderUnauthenticatedError(ParapheError):
    """The sender could not be authenticated (aligned DKIM, trusted upstream result or secret
    address)."""
    code, kind = "sender_unauthenticated", "forbidden"


class SenderNotAddressedError(SenderUnauthenticatedError):
    """A signed message that does not name this Paraphe address (To or Cc) cannot
    authenticate its sender."""
    code = "sender_not_addressed"


class SenderUnknownError(ParapheError):
    """The sender's address does not belong to anyone registered with Paraphe."""
    code, kind = "sender_unknown", "forbidden"


# details: ``reason`` (too_deep, mime_error) and, for mime_error, the parser's ``error``.
class MessageUnreadableError(ParapheError):
    """The structure of this message cannot be read: it was set aside, nothing was done."""
    code = "message_unreadable"


@dataclass(frozen=True)
class Refusal:
    """A refusal during the SMTP session: its code (RFC 5321, RFC 3463) and text
    (templates/smtp/)."""

    status: str
    text: str

    def line(self, **context) -> str:
        """The status line: the code, the French text, then the English one."""
        return _line(self.status, self.text, tuple(sorted(context.items())))


@lru_cache(maxsize=64)
def _line(status: str, text: str, context: tuple) -> str:
    fr, en = (" ".join(templating.render(f"smtp/{text}", lang, **dict(context)).split())
              for lang in ("fr", "en"))
    # Reply text is US-ASCII (RFC 5321 4.2.1): the French loses its accents, not its sense.
    line = unicodedata.normalize("NFKD", f"{status} {fr} / {en}")
    return line.encode("ascii", "ignore").decode()


# Status lines while the SMTP session is open; a sender who is refused reads the text.
RCPT_OK = "250 2.1.5 Recipient OK"
QUEUED = "250 2.0.0 Message accepted for delivery"
TOO_MANY_RECIPIENTS = Refusal("452 4.5.3", "too_many_recipients")
TEMPORARY_FAILURE = Refusal("451 4.3.0", "temporary_failure")
MESSAGE_TOO_BIG = Refusal("552 5.3.4", "message_too_big")
LINE_TOO_LONG = Refusal("500 5.5.2", "line_too_long")
SMTP_STATUS = {
    RecipientUnknownError.code: Refusal("550 5.1.1", "recipient_unknown"),
    SenderUnauthenticatedError.code: Refusal("550 5.7.1", "sender_unauthenticated"),
    SenderNotAddressedError.code: Refusal("550 5.7.1", "sender_not_addressed"),
    SenderUnknownError.code: Refusal("550 5.7.1", "sender_unknown"),
}

# Errors that concern the whole message rather than one attached file: they get the
# `sender/refused` reply instead of a line in a partial result.
MESSAGE_LEVEL = frozenset({
    DocumentMissingError.code, CabinetAmbiguousError.code, CabinetNotFoundError.code,
    NotAMemberError.code, DelegationMissingError.code, CreditInsufficientError.code,
    TermsNotAcceptedError.code,
})
REFUSED_TEMPLATE = "sender/refused"
INTERNAL_ERROR_TEMPLATE = "sender/internal_error"
UNREADABLE_TEMPLATE = "sender/unreadable"


def smtp_status(exc: ParapheError) -> str:
    """The status line answering a refusal during the SMTP session."""
    return SMTP_STATUS.get(exc.code, TEMPORARY_FAILURE).line()


def cause(exc: ParapheError) -> dict:
    """What reply templates need to name a cause: its code and its (secret-free) details."""
    details = {k: v for k, v in exc.details.items()
               if isinstance(v, (str, int, float, bool, list)) or v is None}
    # Cabinet "not found" and "not a member" read the same to the sender: it names no
    # cabinet they do not belong to, and tells which ones they do.
    code = CabinetNotFoundError.code if exc.code == NotAMemberError.code else exc.code
    return {"code": code, **details}


def is_message_level(exc: ParapheError) -> bool:
    return exc.code in MESSAGE_LEVEL
