"""The one family of domain errors; each transport translates them in one place.

Every error has a stable ``code`` (used by templates, HTTP problem documents and
tests) and a ``kind`` that transports map to their own status: ``invalid``,
``not_found``, ``forbidden``, ``conflict``, ``gone``, ``payment``, ``too_large``,
``unsupported_type``, ``rate_limited``, ``insufficient_storage``.
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


class SirenInvalidError(CabinetInvalidError):
    """Not a SIREN: nine digits whose Luhn check digit holds (details: siren, reason)."""
    code = "siren_invalid"


class CabinetSirenMissingError(ParapheError):
    """A seal names its cabinet by SIREN (EN 319 412-3): the cabinet has none yet."""
    code, kind = "cabinet_siren_missing", "conflict"


class CabinetSirenSetError(ParapheError):
    """The cabinet already has another SIREN; only the operator corrects it."""
    code, kind = "cabinet_siren_set", "conflict"


class PersonNotFoundError(ParapheError):
    """No person has this e-mail address."""
    code, kind = "person_not_found", "not_found"


class PersonInvalidError(ParapheError):
    """The person's data is not valid."""
    code = "person_invalid"


class PersonNameIncompleteError(PersonInvalidError):
    """A personal certificate names a given name and a surname: one word says neither."""
    code = "person_name_incomplete"


class MembershipExistsError(ParapheError):
    """This person is already a member of this cabinet."""
    code, kind = "membership_exists", "conflict"


class NotAMemberError(ParapheError):
    """This person is not a member of this cabinet."""
    code, kind = "not_a_member", "forbidden"


class ExpertRequiredError(ParapheError):
    """Only the cabinet's expert manages its members."""
    code, kind = "expert_required", "forbidden"


class MemberNotRemovableError(ParapheError):
    """An expert is not removed from the cabinet space: the operator does that."""
    code, kind = "member_not_removable", "conflict"


class SessionNotFoundError(ParapheError):
    """No live session of yours has this number."""
    code, kind = "session_not_found", "not_found"


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


# details: ``cabinet`` (slug), ``version`` (the current one) and ``role`` of the person
# refused in that cabinet (expert, collaborator, or None for a signer or the operator), so
# that each channel tells the right person what to do.
class TermsNotAcceptedError(ParapheError):
    """The cabinet's expert has not accepted the current terms of use."""
    code, kind = "terms_not_accepted", "forbidden"


class TermsExpertRequiredError(ParapheError):
    """Only the cabinet's expert may accept its terms of use."""
    code, kind = "terms_expert_required", "forbidden"


class TermsVersionInvalidError(ParapheError):
    """This is not the current version of the terms of use: read the current one and accept it."""
    code, kind = "terms_version_invalid", "conflict"


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


# --- REST API and webhooks -----------------------------------------------------------

class ApiKeyInvalidError(ParapheError):
    """The API key is missing or unknown."""
    code, kind = "api_key_invalid", "unauthenticated"


class ApiKeyRevokedError(ParapheError):
    """The API key was revoked."""
    code, kind = "api_key_revoked", "unauthenticated"


class ApiKeyNotFoundError(ParapheError):
    """No such API key in this cabinet."""
    code, kind = "api_key_not_found", "not_found"


class ApiScopeMissingError(ParapheError):
    """The API key does not have the scope this request needs."""
    code, kind = "scope_missing", "forbidden"


class ApiScopeUnknownError(ParapheError):
    """This is not an API scope: use seal, collect or read."""
    code = "scope_unknown"


class ApiRequestInvalidError(ParapheError):
    """The request is not valid."""
    code = "request_invalid"


class IdempotencyKeyReusedError(ParapheError):
    """This Idempotency-Key was already used with another request body."""
    code = "idempotency_key_reused"


class IdempotencyKeyInProgressError(ParapheError):
    """A request with this Idempotency-Key is still being processed."""
    code, kind = "idempotency_key_in_progress", "conflict"


class WebhookNotFoundError(ParapheError):
    """No such webhook endpoint in this cabinet."""
    code, kind = "webhook_not_found", "not_found"


class WebhookInvalidError(ParapheError):
    """The webhook endpoint is not valid."""
    code = "webhook_invalid"


class WebhookTargetForbiddenError(WebhookInvalidError):
    """The webhook URL reaches a loopback, link-local, private, multicast or reserved address."""
    code = "webhook_target_forbidden"


# --- Telegram ------------------------------------------------------------------------

class LinkCodeInvalidError(ParapheError):
    """This link code is not valid (already used, replaced, or mistyped)."""
    code, kind = "link_code_invalid", "not_found"


class LinkCodeExpiredError(ParapheError):
    """This link code has expired; ask for a new one."""
    code, kind = "link_code_expired", "gone"


class TelegramAlreadyLinkedError(ParapheError):
    """This Telegram account is already linked to another person."""
    code, kind = "telegram_already_linked", "conflict"


class TelegramAccountUnknownError(ParapheError):
    """No person is linked to this Telegram account."""
    code, kind = "telegram_account_unknown", "forbidden"


# --- Collections and signer links -------------------------------------------------------

class CollectionNotFoundError(ParapheError):
    """No such collection, or not one this person may see."""
    code, kind = "collection_not_found", "not_found"


class CollectionInvalidError(ParapheError):
    """The collection cannot be created as asked (no document, no signer, a bad address…)."""
    code = "collection_invalid"


class CollectionStateError(ParapheError):
    """The collection is not in a state that allows this action."""
    code, kind = "collection_state", "conflict"


class NotASignerError(ParapheError):
    """This person is not a signer of this collection, or has nothing left to sign in it."""
    code, kind = "not_a_signer", "forbidden"


class SignerLinkInvalidError(ParapheError):
    """This signature link is not valid (mistyped, or replaced by a newer one)."""
    code, kind = "signer_link_invalid", "not_found"


class LinkExpiredError(ParapheError):
    """This signature link is no longer usable: the collection has ended."""
    code, kind = "link_expired", "gone"


class AlreadySignedError(ParapheError):
    """This signer has already signed."""
    code, kind = "already_signed", "conflict"


class AlreadyDeclinedError(ParapheError):
    """This signer has already declined to sign."""
    code, kind = "already_declined", "conflict"


class NotYourTurnError(ParapheError):
    """The signers before this one, in the set order, have not all signed yet."""
    code, kind = "not_your_turn", "conflict"


class ConsentRequiredError(ParapheError):
    """The signer must tick the consent box to sign."""
    code = "consent_required"


class DeclineReasonRequiredError(ParapheError):
    """A reason is needed to decline or reject."""
    code = "reason_required"


class OtpInvalidError(ParapheError):
    """The code is wrong."""
    code = "otp_invalid"


class OtpExpiredError(ParapheError):
    """The code has expired or was never sent; ask for a new one."""
    code, kind = "otp_expired", "gone"


class OtpLockedError(ParapheError):
    """Too many wrong codes: this code no longer works; ask for a new one."""
    code, kind = "otp_locked", "forbidden"


class OtpRateLimitedError(ParapheError):
    """Codes were sent too often for this link; wait before asking for another."""
    code, kind = "otp_rate_limited", "rate_limited"


class SmsUnavailableError(ParapheError):
    """No mobile number is known for this signer, or SMS cannot be sent."""
    code = "sms_unavailable"


# --- Registration and personal certificates ---------------------------------------------

class RegistrationNotFoundError(ParapheError):
    """No such registration."""
    code, kind = "registration_not_found", "not_found"


class RegistrationStateError(ParapheError):
    """The registration is not in a state that allows this step."""
    code, kind = "registration_state", "conflict"


class RegistrationStepMissingError(ParapheError):
    """An earlier step of the registration is not done yet."""
    code = "registration_step_missing"


class RegistrationNotNeededError(ParapheError):
    """Only experts and holders of the `sign` delegation sign in their own name and register."""
    code, kind = "registration_not_needed", "conflict"


class RegistrationLinkInvalidError(ParapheError):
    """This registration link is not valid."""
    code, kind = "registration_link_invalid", "not_found"


class RegistrationLinkExpiredError(ParapheError):
    """This registration link has expired: ask for a new one."""
    code, kind = "registration_link_expired", "gone"


class PhoneInvalidError(ParapheError):
    """This is not a mobile number in international form (+33…)."""
    code = "phone_invalid"


class PhoneAlreadyBoundError(ParapheError):
    """This mobile number is bound to another person's personal certificate."""
    code, kind = "phone_already_bound", "conflict"


class PhoneNotVerifiedError(ParapheError):
    """The mobile number is not confirmed yet."""
    code = "phone_not_verified"


class IdentityDocumentTypeInvalidError(ParapheError):
    """This is not an identity document type: use id_card, passport or driving_licence."""
    code = "identity_document_type_invalid"


class IdentityDocumentFormatError(ParapheError):
    """The file is not a JPEG, PNG or PDF (checked by its content, not its name)."""
    code, kind = "identity_document_format", "unsupported_type"


class IdentityDocumentGreyscaleError(ParapheError):
    """The picture is in black and white: a colour picture is needed."""
    code = "identity_document_greyscale"


class IdentityDocumentTooSmallError(ParapheError):
    """The file is too small to be readable."""
    code = "identity_document_too_small"


class IdentityDocumentTooLargeError(ParapheError):
    """The file is over the size limit."""
    code, kind = "identity_document_too_large", "too_large"


class IdentityDocumentSideInvalidError(ParapheError):
    """This is not a side of the document: use front or back."""
    code = "identity_document_side_invalid"


class IdentityDocumentMissingError(ParapheError):
    """A side of the identity document is missing."""
    code = "identity_document_missing"


class RefusalReasonRequiredError(ParapheError):
    """A reason is needed to refuse a registration."""
    code = "refusal_reason_required"


class PersonalCertificateMissingError(CertificateMissingError):
    """No valid personal certificate: register first (/register in the bot, or the registration
    link)."""
    code, kind = "personal_certificate_missing", "forbidden"


class PersonalCertificateRevokedError(CertificateRevokedError):
    """The personal certificate is revoked: register again to get a new one (/register)."""
    code, kind = "personal_certificate_revoked", "gone"


# --- Text from outside -----------------------------------------------------------------

# details: ``field`` (which input), ``reason`` (not_text, required, unsafe_character,
# line_break, too_long) and, where it helps, ``position`` or ``limit``.
class TextInvalidError(ParapheError):
    """This text cannot be used: it holds a control or invalid character, or is too long."""
    code = "text_invalid"


# --- Requests and the machine ----------------------------------------------------------

class StorageFullError(ParapheError):
    """The server's storage is full: nothing was done; retry later."""
    code, kind = "storage_full", "insufficient_storage"


class UnexpectedError(ParapheError):
    """Something failed that should not have: nothing was billed; the error id is in the log."""
    code, kind = "internal_error", "internal"
