"""Certificate profiles: the platform's CAs and responders, and EN 319 412 end-entity names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PLATFORM_O = "Paraphe"
# Names are understood in the French context the platform serves (EN 319 412-2 §4.2.4).
COUNTRY = "FR"

# Certificate policies (EN 319 411-1 style: one identifier per kind of subject). The default
# arc is under 32473, the Private Enterprise Number RFC 5612 reserves for documentation: a
# placeholder until the operator sets PARAPHE_POLICY_OID to an arc of its own PEN. These are
# the platform's own policies; no certificate claims an ETSI policy (NCP, QCP) nor, in a
# QCStatement, qualified status.
DEFAULT_POLICY_OID = "1.3.6.1.4.1.32473.1"
POLICY_ARCS = {"seal": 1, "personal": 2, "one_time": 3, "service": 4}
CPS_PATH = "/ca/cps"


def policy_oid(base: str, kind: str) -> str:
    """The policy identifier of a kind of certificate (seal, personal, one_time, service)."""
    return f"{base}.{POLICY_ARCS[kind]}"


@dataclass(frozen=True)
class AuthoritySpec:
    """One certificate of the platform's own PKI, created on first start."""

    name: str  # also its URL: /ca/<name>.crt, /ca/<name>.crl
    kind: str  # root | issuing | tsa | ocsp
    common_name: str
    parent: str | None  # name of the issuing authority; None for the root
    lifetime: timedelta


ROOT = "root"
PERSONAL_CA = "personal-ca"
SEAL_CA = "seal-ca"
ONE_TIME_CA = "one-time-ca"
TSA = "tsa"
ISSUING_CAS = (PERSONAL_CA, SEAL_CA, ONE_TIME_CA)


def ocsp_responder_name(ca_name: str) -> str:
    """A delegated OCSP responder must be certified by the CA it answers for (RFC 6960
    §4.2.2.2), so each issuing CA has its own; the root signs answers about its children."""
    return f"ocsp-{ca_name}"


def _years(n: int) -> timedelta:
    return timedelta(days=365 * n)


# An OCSP responder certificate carries ocsp-nocheck: nobody can ask whether it was revoked,
# so it lives a few days only (RFC 6960 §4.2.2.2.1) and is renewed long before it ends, by
# TrustService.open and the `renew_ocsp_responders` sweep (`OCSP_RESPONDER_RENEW_BEFORE`).
OCSP_RESPONDER_LIFETIME = timedelta(days=7)
OCSP_RESPONDER_RENEW_BEFORE = timedelta(days=3)

AUTHORITIES: tuple[AuthoritySpec, ...] = (
    AuthoritySpec(ROOT, "root", "Paraphe Root CA", None, _years(25)),
    AuthoritySpec(PERSONAL_CA, "issuing", "Paraphe Personal Signing CA", ROOT, _years(15)),
    AuthoritySpec(SEAL_CA, "issuing", "Paraphe Seal CA", ROOT, _years(15)),
    AuthoritySpec(ONE_TIME_CA, "issuing", "Paraphe One-Time Signer CA", ROOT, _years(15)),
    AuthoritySpec(TSA, "tsa", "Paraphe Time-Stamping Authority", ROOT, _years(12)),
    *(AuthoritySpec(ocsp_responder_name(ca), "ocsp", f"Paraphe OCSP Responder ({ca})", ca,
                    OCSP_RESPONDER_LIFETIME)
      for ca in ISSUING_CAS),
)
AUTHORITY_BY_NAME = {spec.name: spec for spec in AUTHORITIES}

# End-entity lifetimes. A one-time certificate signs once, but validators that check it at
# the current time (pdfsig, Acrobat, pyHanko's AdES process before falling back on proofs
# of existence) must find it valid as long as the revocation data added for it is fresh
# (OCSP answers and CRLs live a day): two days cover that with room for clock skew.
SEAL_LIFETIME = timedelta(days=3 * 365)
PERSONAL_LIFETIME = timedelta(days=3 * 365)
ONE_TIME_LIFETIME = timedelta(days=2)
# The time-stamping unit is certified for 12 years and replaced 3 years before it expires:
# archive timestamps are renewed when theirs has less than PARAPHE_ARCHIVE_RENEW_BEFORE
# (2 years by default) left, by a unit that then has 9 years or more ahead of it.
TSA_RENEW_BEFORE = timedelta(days=3 * 365)
# Backdating absorbs clock differences between the web process and signing workers.
BACKDATE = timedelta(minutes=1)


def _name(*attrs: tuple) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs if value])


def authority_subject(spec: AuthoritySpec) -> x509.Name:
    return _name((NameOID.COUNTRY_NAME, COUNTRY), (NameOID.ORGANIZATION_NAME, PLATFORM_O),
                 (NameOID.COMMON_NAME, spec.common_name))


def organization_identifier(siren: str | None) -> str | None:
    """EN 319 412-1 §5.1.4: "NTR" (national trade register), country, "-", the SIREN."""
    return f"NTR{COUNTRY}-{siren}" if siren else None


def seal_subject(name: str, siren: str | None) -> x509.Name:
    """EN 319 412-3 legal person: C, O, organizationIdentifier (NTRFR-SIREN), CN.

    The organizationIdentifier is mandatory there: cabinets get a seal only with a SIREN
    (workflows.trust.ca); only the platform's own seal may lack one, when the operator has
    not set PARAPHE_PLATFORM_SIREN.
    """
    return _name((NameOID.COUNTRY_NAME, COUNTRY), (NameOID.ORGANIZATION_NAME, name),
                 (NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(siren)),
                 (NameOID.COMMON_NAME, name))


def split_name(full_name: str) -> tuple[str | None, str | None]:
    """(given name, surname) when the name has at least two words, else (None, None)."""
    parts = full_name.split()
    if len(parts) < 2:
        return None, None
    return parts[0], " ".join(parts[1:])


def person_subject(full_name: str, organization: str | None = None) -> x509.Name:
    """EN 319 412-2 §5.2.4 natural person: C, givenName and surname, CN (O when given).

    A one-word name does not say which part it is: it goes in a pseudonym attribute, which
    §5.2.4 allows instead of givenName/surname (registration asks for a full name, so only
    a one-time signer named in one word by the initiator gets one). The e-mail address is in
    subjectAltName (RFC 5280 §4.1.2.6), not in the DN.
    """
    given, surname = split_name(full_name)
    return _name((NameOID.COUNTRY_NAME, COUNTRY), (NameOID.ORGANIZATION_NAME, organization),
                 (NameOID.GIVEN_NAME, given), (NameOID.SURNAME, surname),
                 (NameOID.PSEUDONYM, None if given else full_name.strip()),
                 (NameOID.COMMON_NAME, full_name.strip()))


def base_builder(*, subject: x509.Name, issuer: x509.Name, public_key, issuer_public_key,
                 serial: int, not_before: datetime, not_after: datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(public_key)
        .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
                       critical=False)
    )


def with_publication(builder: x509.CertificateBuilder, public_url: str, issuer_name: str,
                     *, revocation: bool = True) -> x509.CertificateBuilder:
    """AIA (OCSP and caIssuers) and the CRL distribution point of the issuing authority."""
    ca_url = f"{public_url}/ca/{issuer_name}"
    access = [x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                     x509.UniformResourceIdentifier(f"{ca_url}.crt"))]
    if revocation:
        access.insert(0, x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                                x509.UniformResourceIdentifier(f"{public_url}/ocsp")))
    builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if revocation:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{ca_url}.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
    return builder


def with_policy(builder: x509.CertificateBuilder, *, base: str, kind: str,
                public_url: str) -> x509.CertificateBuilder:
    """certificatePolicies: the platform's identifier for this kind, with its CPS URI."""
    return builder.add_extension(x509.CertificatePolicies([x509.PolicyInformation(
        x509.ObjectIdentifier(policy_oid(base, kind)), [f"{public_url}{CPS_PATH}"])]),
        critical=False)


def _key_usage(*, signing: bool = False, ca: bool = False, non_repudiation: bool = False):
    return x509.KeyUsage(digital_signature=signing, content_commitment=non_repudiation,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def authority_extensions(builder: x509.CertificateBuilder, spec: AuthoritySpec,
                         public_url: str, policy_base: str = DEFAULT_POLICY_OID
                         ) -> x509.CertificateBuilder:
    if spec.kind in ("root", "issuing"):
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=1 if spec.kind == "root" else 0),
            critical=True)
        # digitalSignature too: a CA signs OCSP answers about its own children.
        builder = builder.add_extension(_key_usage(signing=True, ca=True), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                        critical=True)
    if spec.kind == "tsa":
        builder = builder.add_extension(_key_usage(signing=True, non_repudiation=True),
                                        critical=True)
        # RFC 3161 §2.3: the only extended key usage, and critical.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    elif spec.kind == "ocsp":
        builder = builder.add_extension(_key_usage(signing=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if spec.kind in ("tsa", "ocsp"):
        builder = with_policy(builder, base=policy_base, kind="service", public_url=public_url)
    if spec.parent is not None:
        builder = with_publication(builder, public_url, spec.parent,
                                   revocation=spec.kind != "ocsp")
    return builder


def end_entity_extensions(builder: x509.CertificateBuilder, *, public_url: str, ca_name: str,
                          kind: str, policy_base: str = DEFAULT_POLICY_OID,
                          email: str | None = None) -> x509.CertificateBuilder:
    """Signing and seal certificates: nonRepudiation + digitalSignature, not a CA, under
    the policy of their kind (seal, personal, one_time)."""
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                    critical=True)
    builder = with_policy(builder, base=policy_base, kind=kind, public_url=public_url)
    builder = builder.add_extension(_key_usage(signing=True, non_repudiation=True),
                                    critical=True)
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return with_publication(builder, public_url, ca_name)
