"""Certificate contents after EN 319 412-2/-3 and RFC 5280, read back with `cryptography`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

from workflows import clock
from workflows.models import Certificate
from workflows.trust import ocsp as ocsp_mod
from workflows.trust.ca import TrustService

BASE = "1.3.6.1.4.1.32473.1"  # The documentation PEN of RFC 5612: the default placeholder.
QC_STATEMENTS = ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def _x509(row) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(row.der))


def _subject(cert: x509.Certificate, oid) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def _policies(cert: x509.Certificate) -> dict[str, list]:
    ext = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES)
    assert not ext.critical
    return {p.policy_identifier.dotted_string: p.policy_qualifiers for p in ext.value}


def _assert_policy(cert: x509.Certificate, oid: str, public_url: str) -> None:
    assert _policies(cert) == {oid: [f"{public_url}/ca/cps"]}
    # Nothing claims qualified status: no QCStatements at all.
    assert QC_STATEMENTS not in [e.oid for e in cert.extensions]


def _emails(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    return san.value.get_values_for_type(x509.RFC822Name)


async def test_seal_certificate_names_the_legal_person_under_the_seal_policy(trust, cabinet):
    cert = _x509(await trust.seal_certificate_for(cabinet))
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == ["Cabinet Dupont & Associés"]
    assert _subject(cert, NameOID.ORGANIZATION_IDENTIFIER) == ["NTRFR-552100554"]
    assert _subject(cert, NameOID.COMMON_NAME) == ["Cabinet Dupont & Associés"]
    _assert_policy(cert, f"{BASE}.1", trust.settings.public_url)


async def test_personal_certificate_names_the_natural_person(trust, person):
    cert = _x509(await trust.issue_personal_certificate(person))
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    assert _subject(cert, NameOID.GIVEN_NAME) == ["Marie"]
    assert _subject(cert, NameOID.SURNAME) == ["Salomea Curie"]
    assert _subject(cert, NameOID.COMMON_NAME) == ["Marie Salomea Curie"]
    assert _subject(cert, NameOID.EMAIL_ADDRESS) == [] and _subject(cert, NameOID.PSEUDONYM) == []
    assert _emails(cert) == ["marie.curie@example.org"]
    _assert_policy(cert, f"{BASE}.2", trust.settings.public_url)


async def test_one_time_certificate_names_the_signer(trust):
    cert = _x509(await trust.issue_one_time_certificate("Jean Martin", "jean@client.example"))
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    assert (_subject(cert, NameOID.GIVEN_NAME), _subject(cert, NameOID.SURNAME)) == (
        ["Jean"], ["Martin"])
    assert _subject(cert, NameOID.EMAIL_ADDRESS) == []
    assert _emails(cert) == ["jean@client.example"]
    _assert_policy(cert, f"{BASE}.3", trust.settings.public_url)


async def test_a_one_word_name_is_a_pseudonym(trust):
    # EN 319 412-2 §5.2.4: givenName/surname, or a pseudonym; one word says neither part.
    cert = _x509(await trust.issue_one_time_certificate("Madonna", "m@client.example"))
    assert _subject(cert, NameOID.PSEUDONYM) == ["Madonna"]
    assert _subject(cert, NameOID.GIVEN_NAME) == [] and _subject(cert, NameOID.SURNAME) == []
    assert _subject(cert, NameOID.COMMON_NAME) == ["Madonna"]


async def test_the_platform_seal_names_the_platform_siren(db, settings):
    trust = await TrustService.open(settings.model_copy(update={"platform_siren": "732829320"}))
    cert = _x509(await trust.platform_seal_certificate("Paraphe"))
    assert _subject(cert, NameOID.ORGANIZATION_IDENTIFIER) == ["NTRFR-732829320"]
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == ["Paraphe"]
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    _assert_policy(cert, f"{BASE}.1", settings.public_url)


async def test_the_policy_arc_is_the_operators(db, settings, cabinet):
    trust = await TrustService.open(settings.model_copy(update={"policy_oid": "1.2.250.1.999"}))
    cert = _x509(await trust.seal_certificate_for(cabinet))
    assert list(_policies(cert)) == ["1.2.250.1.999.1"]


async def test_tsa_certificate(trust):
    cert = trust.authority("tsa").cert
    eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    _assert_policy(cert, f"{BASE}.4", trust.settings.public_url)


async def test_ocsp_responders_are_short_lived_and_issued_by_their_ca(trust):
    for ca in ("personal-ca", "seal-ca", "one-time-ca"):
        cert = trust.authority(f"ocsp-{ca}").cert
        assert cert.issuer == trust.authority(ca).cert.subject
        assert cert.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK)
        assert list(cert.extensions.get_extension_for_oid(
            ExtensionOID.EXTENDED_KEY_USAGE).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
        assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=7, minutes=1)
        _assert_policy(cert, f"{BASE}.4", trust.settings.public_url)


def _responder_of(answer: bytes) -> x509.Certificate:
    basic = asn1_ocsp.OCSPResponse.load(answer).basic_ocsp_response
    return x509.load_der_x509_certificate(basic["certs"][0].dump())


async def test_ocsp_responders_are_renewed_before_they_end(trust, settings, cabinet):
    leaf = await trust.signing_key(await trust.seal_certificate_for(cabinet))
    old = trust.authority("ocsp-seal-ca")
    assert await trust.renew_ocsp_responders() == []  # Fresh: nothing to do.
    clock.fast_forward(days=4, hours=1)
    other = await TrustService.open(settings)  # A second instance, or a restart.
    new = other.authority("ocsp-seal-ca")
    assert new.row.id != old.row.id
    assert new.cert.not_valid_after_utc > clock.now() + timedelta(days=6)
    assert (await Certificate.get(id=old.row.id)).name is None  # Kept, retired.
    # The first instance's sweep picks up the other's renewal without renewing again.
    assert await trust.renew_ocsp_responders() == []
    assert trust.authority("ocsp-seal-ca").row.id == new.row.id
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [
        {"req_cert": ocsp_mod.cert_id_for(leaf.cert, trust.authority("seal-ca").asn1)}]}})
    assert _responder_of(await trust.ocsp_response(request.dump())).serial_number == \
        new.cert.serial_number
    # Once the retired certificate has ended, its key is deleted.
    clock.fast_forward(days=4)
    await trust.renew_ocsp_responders()
    assert (await Certificate.get(id=old.row.id)).key_ref is None


async def test_an_overdue_responder_leaves_the_answer_to_its_ca(trust, cabinet):
    leaf = await trust.signing_key(await trust.seal_certificate_for(cabinet))
    clock.fast_forward(days=6, hours=12)  # No sweep ran: the responder ends within a day.
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [
        {"req_cert": ocsp_mod.cert_id_for(leaf.cert, trust.authority("seal-ca").asn1)}]}})
    assert _responder_of(await trust.ocsp_response(request.dump())).subject == \
        trust.authority("seal-ca").cert.subject


@pytest.fixture(autouse=True)
def _real_time():
    yield
    clock.reset()
