"""Certificate revocation lists (RFC 5280 §5) per CA, built from the Certificate table."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509

from workflows.errors import RevocationReasonInvalidError
from workflows.trust.x509sign import sign_crl

# A CRL is reissued when it is half through its life, so a relying party that caches it
# until nextUpdate never sees a stale one; a revocation reissues it at once.
CRL_VALIDITY = timedelta(days=1)

REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
    "privilege_withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


def normalize_reason(reason: str | None) -> str:
    """The snake_case RFC 5280 reason name; raises RevocationReasonInvalidError."""
    key = (reason or "unspecified").strip()
    # Accept the RFC's own camelCase spelling too (keyCompromise).
    key = "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")
    key = key.replace("-", "_").replace("c_a_", "ca_")
    if key not in REASONS:
        raise RevocationReasonInvalidError(
            f"unknown revocation reason {reason!r}: use one of {', '.join(REASONS)}")
    return key


def build_crl(*, issuer: x509.Certificate, keystore, key_ref: str,
              revoked: list[tuple[int, datetime, str | None]], number: int,
              this_update: datetime, next_update: datetime) -> bytes:
    """A DER CRL signed by the CA ``issuer`` with ``key_ref``; raises KeystoreError.

    ``revoked`` lists (serial, revocation time, reason name) of the certificates it issued.
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject).last_update(this_update).next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
                       critical=False)
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(
            revoked_at.replace(microsecond=0))
        if reason and reason != "unspecified":
            # RFC 5280 §5.3.1: unspecified is expressed by leaving the reason out.
            entry = entry.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return sign_crl(builder, keystore, key_ref, issuer.public_key())
