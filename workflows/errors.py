"""The one family of domain errors; each transport translates them in one place.

Every error has a stable ``code`` (used by templates, HTTP problem documents and
tests) and a ``kind`` that transports map to their own status: ``invalid``,
``not_found``, ``forbidden``, ``conflict``, ``gone``, ``payment``, ``too_large``,
``rate_limited``.
"""

from __future__ import annotations

from typing import Any


class ParapheError(Exception):
    """Base of every domain error: a stable code, a kind and an English message."""

    code = "error"
    kind = "invalid"

    def __init__(self, message: str = "", **details: Any) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        self.details = details
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


# --- People, cabinets, delegations -------------------------------------------------

class CabinetNotFoundError(ParapheError):
    """No cabinet has this slug."""
    code, kind = "cabinet_not_found", "not_found"


class CabinetExistsError(ParapheError):
    """A cabinet with this slug already exists."""
    code, kind = "cabinet_exists", "conflict"


class CabinetInvalidError(ParapheError):
    """The cabinet's data is not valid."""
    code = "cabinet_invalid"


class PersonNotFoundError(ParapheError):
    """No person has this e-mail address."""
    code, kind = "person_not_found", "not_found"


class PersonInvalidError(ParapheError):
    """The person's data is not valid."""
    code = "person_invalid"


class MembershipExistsError(ParapheError):
    """This person is already a member of this cabinet."""
    code, kind = "membership_exists", "conflict"


class NotAMemberError(ParapheError):
    """This person is not a member of this cabinet."""
    code, kind = "not_a_member", "forbidden"


class DelegationUnknownError(ParapheError):
    """This is not a delegation: use sign, seal, prepare or launch."""
    code = "delegation_unknown"


class DelegationMissingError(ParapheError):
    """This person does not hold the delegation this action needs."""
    code, kind = "delegation_missing", "forbidden"


class DelegationNotApplicableError(ParapheError):
    """Experts hold every right in their cabinets; delegations are for collaborators."""
    code, kind = "delegation_not_applicable", "conflict"


class CabinetAmbiguousError(ParapheError):
    """This person belongs to several cabinets and did not say which one."""
    code = "cabinet_ambiguous"


class TermsNotAcceptedError(ParapheError):
    """The cabinet's expert has not accepted the current terms of use."""
    code, kind = "terms_not_accepted", "forbidden"


# --- Credit ------------------------------------------------------------------------

class CreditInsufficientError(ParapheError):
    """The cabinet does not have enough credit for this operation."""
    code, kind = "credit_insufficient", "payment"


class CreditAmountInvalidError(ParapheError):
    """A credit amount must be a positive whole number."""
    code = "credit_amount_invalid"


class ReservationClosedError(ParapheError):
    """This credit reservation is already closed."""
    code, kind = "reservation_closed", "conflict"


# --- Documents -----------------------------------------------------------------------

class DocumentError(ParapheError):
    """The document cannot be used."""
    code = "document_invalid"


class DocumentNotPdfError(DocumentError):
    """The file is not a PDF."""
    code = "document_not_pdf"


class DocumentEncryptedError(DocumentError):
    """The PDF is encrypted or password-protected."""
    code = "document_encrypted"


class DocumentBrokenError(DocumentError):
    """The PDF is damaged and cannot be read."""
    code = "document_broken"


class DocumentTooLargeError(DocumentError):
    """The file is over the 10 MB limit."""
    code, kind = "document_too_large", "too_large"


class DocumentBombError(DocumentError):
    """The PDF expands to far more data than its size allows (decompression bomb)."""
    code = "document_bomb"


class DocumentMissingError(DocumentError):
    """No PDF was attached."""
    code = "document_missing"


class DocumentNotFoundError(ParapheError):
    """No such document."""
    code, kind = "document_not_found", "not_found"


# --- Evidence ------------------------------------------------------------------------

class EvidenceChainBrokenError(ParapheError):
    """The evidence log's hash chain is broken."""
    code, kind = "evidence_chain_broken", "conflict"


# --- Trust ---------------------------------------------------------------------------

class CertificateNotFoundError(ParapheError):
    """No such certificate."""
    code, kind = "certificate_not_found", "not_found"


class CertificateRevokedError(ParapheError):
    """The certificate is revoked."""
    code, kind = "certificate_revoked", "gone"


class CertificateMissingError(ParapheError):
    """No valid certificate is available for this signature or seal."""
    code, kind = "certificate_missing", "forbidden"


class TrustServiceError(ParapheError):
    """The trust service could not complete the operation."""
    code, kind = "trust_service_error", "unavailable"


class KeystoreError(TrustServiceError):
    """The keystore could not store or use a private key."""
    code = "keystore_error"


class MasterKeyWrongError(KeystoreError):
    """The keystore's master key does not open the stored keys (wrong PARAPHE_MASTER_KEY?)."""
    code = "master_key_wrong"


class KeyNotFoundError(KeystoreError):
    """The keystore holds no private key under this name."""
    code, kind = "key_not_found", "not_found"


class RevocationReasonInvalidError(ParapheError):
    """This is not a revocation reason of RFC 5280 (key_compromise, superseded...)."""
    code = "revocation_reason_invalid"


# --- Mail gateway --------------------------------------------------------------------

class RecipientUnknownError(ParapheError):
    """This address is not served by Paraphe."""
    code, kind = "recipient_unknown", "not_found"


class SenderUnauthenticatedError(ParapheError):
    """The sender could not be authenticated (aligned DKIM, trusted upstream result or secret address)."""
    code, kind = "sender_unauthenticated", "forbidden"


class SenderUnknownError(ParapheError):
    """The sender's address does not belong to anyone registered with Paraphe."""
    code, kind = "sender_unknown", "forbidden"
