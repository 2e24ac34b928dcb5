"""A person's personal certificate: its details, its revocation confirmed by a code sent
out of band, and the gate that lets only registered people sign in their own name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from workflows import clock, evidence, notifications, otp, person_codes
from workflows.actors import Actor
from workflows.errors import (
    CertificateRevokedError,
    PersonalCertificateMissingError,
    PersonalCertificateRevokedError,
    PersonNotFoundError,
)
from workflows.delegations import may
from workflows.models import (
    Cabinet,
    Certificate,
    Membership,
    Notification,
    Person,
    PersonCode,
    Registration,
)
from workflows.services import Services
from workflows.transactions import in_transaction


REVOCATION_CODE = "revocation"


@dataclass(frozen=True)
class NameField:
    """One attribute of a subject or issuer: asn1crypto's name of its type (`common_name`,
    `organization_identifier`; the dotted OID when it has none), its English label, its value."""

    name: str
    label: str
    value: str


def name_fields(name: asn1_x509.Name) -> tuple[NameField, ...]:
    return tuple(NameField(attr["type"].native, attr["type"].human_friendly,
                           str(attr["value"].native))
                 for rdn in name.chosen for attr in rdn)


@dataclass(frozen=True)
class CertificateDetails:
    serial: str
    subject: str
    issuer: str
    subject_fields: tuple[NameField, ...]
    issuer_fields: tuple[NameField, ...]
    not_before: datetime
    not_after: datetime
    status: str  # valid | revoked | expired
    revoked_at: datetime | None
    revocation_reason: str | None

    @property
    def serial_groups(self) -> list[str]:
        """The hex serial in groups of four, so that a phone's narrow screen can wrap it."""
        digits = self.serial.upper()
        return [digits[i:i + 4] for i in range(0, len(digits), 4)]


async def _person(actor: Actor) -> Person:
    if actor.person_id is None:
        raise PersonNotFoundError("only a person holds a personal certificate")
    return await Person.get(id=actor.person_id)


async def _latest(person: Person) -> Certificate:
    cert = await Certificate.filter(kind="personal", person_id=person.id).order_by("-id").first()
    if cert is None:
        raise PersonalCertificateMissingError(
            "you have no personal certificate: register first (/register)")
    return cert


async def certificate_details(person: Person) -> CertificateDetails:
    """The person's latest personal certificate. Raises PersonalCertificateMissingError."""
    cert = await _latest(person)
    parsed = x509.load_der_x509_certificate(bytes(cert.der))
    named = asn1_x509.Certificate.load(bytes(cert.der))
    status = ("revoked" if cert.revoked_at else
              "expired" if cert.not_after <= clock.now() else "valid")
    return CertificateDetails(
        serial=cert.serial, subject=parsed.subject.rfc4514_string(),
        issuer=parsed.issuer.rfc4514_string(), subject_fields=name_fields(named.subject),
        issuer_fields=name_fields(named.issuer), not_before=cert.not_before,
        not_after=cert.not_after, status=status, revoked_at=cert.revoked_at,
        revocation_reason=cert.revocation_reason)


async def _valid(person: Person) -> Certificate:
    cert = await _latest(person)
    if cert.revoked_at is not None:
        raise PersonalCertificateRevokedError(
            "your personal certificate is revoked: register again to get a new one (/register)")
    if cert.not_after <= clock.now():
        raise PersonalCertificateMissingError(
            "your personal certificate has expired: register again (/register)")
    return cert


async def _verified_mobile(person: Person) -> str | None:
    reg = await Registration.filter(person_id=person.id, state="approved").order_by("-id").first()
    return reg.phone if reg is not None and reg.phone_verified_at else None


async def request_revocation(svc: Services, actor: Actor) -> str:
    """Sends the person a code to confirm revoking their certificate: by SMS to the mobile
    checked at registration, else by mail. Returns the channel.

    Raises PersonalCertificateMissingError, PersonalCertificateRevokedError,
    OtpRateLimitedError.
    """
    person = await _person(actor)
    cert = await _valid(person)
    mobile = await _verified_mobile(person)
    channel = "sms" if mobile else "mail"
    context = {"name": person.name, "serial": cert.serial,
               "minutes": int(otp.CODE_LIFETIME.total_seconds() // 60)}
    async with in_transaction():
        code = await person_codes.issue(person, purpose=REVOCATION_CODE, channel=channel,
                                        bound_to=cert.serial)
        # A mail or a text message, both sent and retried by their delivery workers.
        await notifications.enqueue(
            channel=channel, template="registrant/revocation_code",
            recipient=mobile if channel == "sms" else person.email,
            language=person.language, person_id=person.id, context={**context, "code": code})
        await evidence.record("certificate.revocation_requested", actor, person_id=person.id,
                              data={"certificate": cert.serial, "channel": channel})
    return channel


async def revocation_pending(person_id: int) -> bool:
    """True while a revocation code sent to the person can still be typed."""
    row = await PersonCode.filter(person_id=person_id, purpose=REVOCATION_CODE).order_by(
        "-id").first()
    return row is not None and row.state == "active" and row.expires_at > clock.now()


async def confirm_revocation(svc: Services, actor: Actor, code: str) -> Certificate:
    """Revokes the person's certificate once the code matches; CRL and OCSP show it at once
    and the person cannot sign until a new registration is approved.

    Raises PersonalCertificateMissingError, PersonalCertificateRevokedError,
    OtpInvalidError, OtpLockedError, OtpExpiredError.
    """
    person = await _person(actor)
    cert = await _valid(person)
    await person_codes.check_and_consume(person, code, purpose=REVOCATION_CODE,
                                         bound_to=cert.serial)
    try:
        cert = await svc.trust.revoke(cert, "cessation_of_operation")
    except CertificateRevokedError:
        raise PersonalCertificateRevokedError("your personal certificate is already revoked"
                                              ) from None
    async with in_transaction():
        await _scrub_codes(person)
        await evidence.record("certificate.revoked", actor, person_id=person.id,
                              data={"certificate": cert.serial, "by": "holder"})
        await notifications.to_person(
            person, "registrant/certificate_revoked", {"serial": cert.serial},
            dedup_key=f"certificate:{cert.serial}:revoked")
    return cert


async def _scrub_codes(person: Person) -> None:
    # A used code need not stay readable in the outbox table, whether mailed or texted.
    for n in await Notification.filter(person_id=person.id,
                                       template="registrant/revocation_code"):
        if n.context.get("code") != notifications.BLANK_CODE:
            await Notification.filter(id=n.id).update(
                context={**n.context, "code": notifications.BLANK_CODE})


# --- the signing gate -----------------------------------------------------------------------

async def signs_in_own_name(person: Person, cabinet: Cabinet) -> bool:
    """An expert of the cabinet or a `sign` holder signs with their personal certificate;
    another member (a co-signer without `sign`) signs like an external signer."""
    if await Membership.exists(person_id=person.id, cabinet_id=cabinet.id, role="expert"):
        return True
    return await may(person, cabinet, "sign")


async def require_signing_certificate(svc: Services, person: Person) -> Certificate:
    """The valid personal certificate of an approved registration.

    Raises PersonalCertificateMissingError (never registered, not approved yet, expired)
    or PersonalCertificateRevokedError, both telling the person to register.
    """
    cert = await svc.trust.personal_certificate_for(person)
    if not await Registration.exists(person_id=person.id, state="approved",
                                     certificate_id=cert.id):
        raise PersonalCertificateMissingError(
            "you have no approved registration: register first (/register)")
    return cert
