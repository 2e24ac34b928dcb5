"""The ONE place where domain errors become SMTP status lines or reply mails."""

from __future__ import annotations

from workflows.errors import (
    CabinetAmbiguousError,
    CabinetNotFoundError,
    CreditInsufficientError,
    DelegationMissingError,
    DocumentMissingError,
    NotAMemberError,
    ParapheError,
    RecipientUnknownError,
    SenderUnauthenticatedError,
    SenderUnknownError,
    TermsNotAcceptedError,
)

# Status lines while the SMTP session is open (RFC 5321 codes, RFC 3463 enhanced codes).
RCPT_OK = "250 2.1.5 Recipient OK"
QUEUED = "250 2.0.0 Message accepted for delivery"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
SMTP_STATUS = {
    RecipientUnknownError.code: "550 5.1.1 Mailbox unavailable: no such Paraphe address",
    SenderUnauthenticatedError.code: (
        "550 5.7.1 Sender not authenticated: DMARC-aligned DKIM, a trusted relay or your "
        "secret address is required"),
    SenderUnknownError.code: "550 5.7.1 Sender not registered with Paraphe",
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
    return SMTP_STATUS.get(exc.code, TEMPORARY_FAILURE)


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
