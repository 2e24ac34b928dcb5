"""The platform PKI: creation on first start, profiles, chains, revocation data."""

from __future__ import annotations

import asyncio
import pickle
from datetime import timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from workflows import clock
from workflows.errors import (
    CabinetSirenMissingError,
    CertificateRevokedError,
    MasterKeyWrongError,
    RevocationReasonInvalidError,
)
from workflows.models import Certificate
from workflows.trust import crl as crl_mod
from workflows.trust import ocsp as ocsp_mod
from workflows.trust.ca import TrustService
from workflows.trust.profiles import AUTHORITIES



def _x509(row) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(row.der))


def _ext(cert: x509.Certificate, oid):
    return cert.extensions.get_extension_for_oid(oid)


def _subject(cert: x509.Certificate, oid) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def _context(trust, bundle) -> ValidationContext:
    return ValidationContext(trust_roots=trust.trust_roots(), other_certs=bundle.asn1_certs,
                             crls=bundle.asn1_crls, ocsps=bundle.asn1_ocsps,
                             allow_fetching=False, revocation_mode="require")


async def test_first_start_creates_the_pki_once(trust, settings):
    rows = await Certificate.filter(name__isnull=False).order_by("id")
    assert [r.name for r in rows] == [spec.name for spec in AUTHORITIES]
    again = await TrustService.open(settings)
    assert again.root_pem() == trust.root_pem()
    assert await Certificate.all().count() == len(AUTHORITIES)
    assert trust.root_pem().startswith("-----BEGIN CERTIFICATE-----")


async def test_two_services_starting_at_once_agree(db, settings):
    first, second = await asyncio.gather(TrustService.open(settings),
                                         TrustService.open(settings))
    assert first.root_pem() == second.root_pem()
    assert await Certificate.filter(kind="root").count() == 1
    # The losing side's keys were dropped: one key file per authority, plus master.check.
    key_files = list((settings.home / "keys").glob("*.key"))
    assert len(key_files) == len(AUTHORITIES)


async def test_wrong_master_key_stops_the_start(trust, settings):
    wrong = settings.model_copy(update={"master_key": None})
    with pytest.raises(MasterKeyWrongError):
        await TrustService.open(wrong)


async def test_authority_profiles(trust):
    root = trust.authority("root").cert
    assert _ext(root, ExtensionOID.BASIC_CONSTRAINTS).value.ca
    assert root.issuer == root.subject
    for name in ("personal-ca", "seal-ca", "one-time-ca"):
        ca = trust.authority(name).cert
        bc = _ext(ca, ExtensionOID.BASIC_CONSTRAINTS)
        assert bc.critical and bc.value.ca and bc.value.path_length == 0
        assert _ext(ca, ExtensionOID.KEY_USAGE).value.key_cert_sign
        assert ca.issuer == root.subject
        urls = [d.full_name[0].value for d in _ext(ca, ExtensionOID.CRL_DISTRIBUTION_POINTS).value]
        assert urls == [f"{trust.settings.public_url}/ca/root.crl"]
    tsa = trust.authority("tsa").cert
    eku = _ext(tsa, ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    for name in ("ocsp-personal-ca", "ocsp-seal-ca", "ocsp-one-time-ca"):
        responder = trust.authority(name).cert
        assert list(_ext(responder, ExtensionOID.EXTENDED_KEY_USAGE).value) == [
            ExtendedKeyUsageOID.OCSP_SIGNING]
        assert _ext(responder, ExtensionOID.OCSP_NO_CHECK) is not None
        assert responder.issuer == trust.authority(name[len("ocsp-"):]).cert.subject


async def test_seal_certificate_profile(trust, cabinet):
    row = await trust.seal_certificate_for(cabinet)
    cert = _x509(row)
    assert row.kind == "seal" and row.cabinet_id == cabinet.id and row.key_ref
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == ["Cabinet Dupont & Associés"]
    assert _subject(cert, NameOID.COMMON_NAME) == ["Cabinet Dupont & Associés"]
    assert _subject(cert, NameOID.ORGANIZATION_IDENTIFIER) == ["NTRFR-552100554"]
    assert _subject(cert, NameOID.COUNTRY_NAME) == ["FR"]
    usage = _ext(cert, ExtensionOID.KEY_USAGE)
    assert usage.critical and usage.value.content_commitment and usage.value.digital_signature
    assert not usage.value.key_cert_sign
    aia = {d.access_method: d.access_location.value
           for d in _ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value}
    base = trust.settings.public_url
    assert aia == {x509.oid.AuthorityInformationAccessOID.OCSP: f"{base}/ocsp",
                   x509.oid.AuthorityInformationAccessOID.CA_ISSUERS: f"{base}/ca/seal-ca.crt"}
    crldp = _ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert [d.full_name[0].value for d in crldp] == [f"{trust.settings.public_url}/ca/seal-ca.crl"]
    # Asked again, the same certificate comes back.
    assert (await trust.seal_certificate_for(cabinet)).id == row.id


async def test_seal_needs_a_siren_and_is_renewed_for_a_new_name_or_siren(trust, cabinet):
    first = await trust.seal_certificate_for(cabinet)
    cabinet.siren = None
    await cabinet.save()
    # EN 319 412-3: a legal person's seal names its organizationIdentifier.
    with pytest.raises(CabinetSirenMissingError) as refused:
        await trust.seal_certificate_for(cabinet)
    assert "paraphe cabinet siren dupont" in refused.value.message
    cabinet.siren, cabinet.name = "732829320", "Dupont Conseil"
    await cabinet.save()
    renamed = await trust.seal_certificate_for(cabinet)
    assert renamed.id != first.id
    cert = _x509(renamed)
    assert _subject(cert, NameOID.ORGANIZATION_IDENTIFIER) == ["NTRFR-732829320"]
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == ["Dupont Conseil"]
    await trust.revoke(renamed, "superseded")
    assert (await trust.seal_certificate_for(cabinet)).id not in (first.id, renamed.id)


async def test_the_platform_seal_is_issued_once_and_renewed_when_revoked(trust):
    first, again = await asyncio.gather(trust.platform_seal_certificate("Paraphe"),
                                        trust.platform_seal_certificate("Paraphe"))
    assert first.id == again.id  # Two at once still issue one.
    assert first.kind == "seal" and first.cabinet_id is None
    assert _subject(_x509(first), NameOID.ORGANIZATION_NAME) == ["Paraphe"]
    await trust.revoke(first, "superseded")
    assert (await trust.platform_seal_certificate("Paraphe")).id != first.id


async def test_personal_and_one_time_profiles(trust, person):
    personal = _x509(await trust.issue_personal_certificate(person))
    assert _subject(personal, NameOID.COMMON_NAME) == ["Marie Salomea Curie"]
    assert _subject(personal, NameOID.GIVEN_NAME) == ["Marie"]
    assert _subject(personal, NameOID.SURNAME) == ["Salomea Curie"]
    assert _subject(personal, NameOID.COUNTRY_NAME) == ["FR"]
    # The e-mail address is in subjectAltName only (EN 319 412-2, RFC 5280 §4.1.2.6).
    assert _subject(personal, NameOID.EMAIL_ADDRESS) == []
    san = _ext(personal, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert san.get_values_for_type(x509.RFC822Name) == ["marie.curie@example.org"]
    assert personal.not_valid_after_utc - personal.not_valid_before_utc > timedelta(days=365)

    row = await trust.issue_one_time_certificate("Jean Martin", "jean@client.example")
    one_time = _x509(row)
    assert row.kind == "one_time"
    assert _subject(one_time, NameOID.COMMON_NAME) == ["Jean Martin"]
    assert _subject(one_time, NameOID.EMAIL_ADDRESS) == []
    assert _ext(one_time, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.get_values_for_type(
        x509.RFC822Name) == ["jean@client.example"]
    assert one_time.issuer == trust.authority("one-time-ca").cert.subject
    lifetime = one_time.not_valid_after_utc - one_time.not_valid_before_utc
    # It outlives the revocation data added for it, so validators that check it at the
    # current time (pdfsig) trust the signature as long as that data is fresh.
    assert ocsp_mod.OCSP_VALIDITY <= lifetime - timedelta(hours=12) <= timedelta(days=3)
    assert crl_mod.CRL_VALIDITY <= lifetime - timedelta(hours=12)
    assert one_time.not_valid_before_utc <= clock.now() < one_time.not_valid_after_utc


async def test_chain_validates_with_revocation_then_shows_revoked(trust, cabinet):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row], after_signing=False)
    validator = CertificateValidator(key.cert, intermediate_certs=key.chain,
                                     validation_context=_context(trust, bundle))
    path = await validator.async_validate_usage({"non_repudiation"})
    assert path.first.dump() == trust.authority("root").der
    # The TSA's chain is in the bundle too and validates the same way.
    tsa = trust.authority("tsa").asn1
    tsa_validator = CertificateValidator(tsa, validation_context=_context(trust, bundle))
    await tsa_validator.async_validate_usage(set(), {"time_stamping"})
    # Answers are reused while fresh.
    assert (await trust.validation_bundle([row], after_signing=False)).ocsps == bundle.ocsps

    await trust.revoke(row, "key_compromise")
    revoked_bundle = await trust.validation_bundle([key], after_signing=False)
    assert revoked_bundle.ocsps != bundle.ocsps
    validator = CertificateValidator(key.cert, intermediate_certs=key.chain,
                                     validation_context=_context(trust, revoked_bundle))
    with pytest.raises(RevokedError):
        await validator.async_validate_usage({"non_repudiation"})


async def test_revocation_in_another_process_reaches_the_bundle(trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    before = await trust.validation_bundle([row], after_signing=False)
    other = await TrustService.open(settings)
    await other.revoke(row, "privilegeWithdrawn")
    after = await trust.validation_bundle([row], after_signing=False)
    statuses = [asn1_ocsp.OCSPResponse.load(d).basic_ocsp_response["tbs_response_data"][
        "responses"][0]["cert_status"].name for d in after.ocsps]
    assert after.ocsps != before.ocsps and "revoked" in statuses


async def test_signing_key_is_picklable_and_refused_when_revoked(trust, cabinet):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    assert pickle.loads(pickle.dumps(key)) == key
    assert [c.subject for c in key.chain] == [trust.authority("seal-ca").asn1.subject,
                                              trust.authority("root").asn1.subject]
    bundle = await trust.validation_bundle([row], after_signing=False)
    assert pickle.loads(pickle.dumps(bundle)) == bundle
    await trust.revoke(row)
    with pytest.raises(CertificateRevokedError):
        await trust.signing_key(row)
    with pytest.raises(CertificateRevokedError):
        await trust.revoke(row)
    with pytest.raises(RevocationReasonInvalidError):
        await trust.revoke(await trust.issue_seal_certificate(cabinet), "because")


async def test_crl_lists_revocations_with_increasing_numbers(trust, cabinet):
    first = asn1_crl.CertificateList.load(await trust.crl("seal-ca"))
    assert len(first["tbs_cert_list"]["revoked_certificates"]) == 0
    row = await trust.seal_certificate_for(cabinet)
    await trust.revoke(row, "key_compromise")
    der = await trust.crl("seal-ca")
    second = asn1_crl.CertificateList.load(der)
    assert second.crl_number_value.native > first.crl_number_value.native
    entries = second["tbs_cert_list"]["revoked_certificates"]
    assert [e["user_certificate"].native for e in entries] == [int(row.serial, 16)]
    assert entries[0].crl_reason_value.native == "key_compromise"
    tbs = second["tbs_cert_list"]
    assert tbs["next_update"].native > tbs["this_update"].native
    # Signed by the seal CA's key.
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(trust.authority("seal-ca").cert.public_key())
    # Unchanged state, fresh CRL: the same one is served.
    assert await trust.crl("seal-ca") == der


async def test_ocsp_good_revoked_unknown_with_nonce(trust, cabinet):
    row = await trust.seal_certificate_for(cabinet)
    ca = trust.authority("seal-ca")
    leaf = (await trust.signing_key(row)).cert

    async def ask(serial: int, nonce: bytes = b"0123456789abcdef"):
        cert_id = ocsp_mod.cert_id_for(leaf, ca.asn1)
        cert_id["serial_number"] = serial
        request = asn1_ocsp.OCSPRequest({"tbs_request": {
            "request_list": [{"req_cert": cert_id}],
            "request_extensions": [{"extn_id": "nonce", "extn_value": nonce}]}})
        response = asn1_ocsp.OCSPResponse.load(await trust.ocsp_response(request.dump()))
        assert response["response_status"].native == "successful"
        basic = response.basic_ocsp_response
        data = basic["tbs_response_data"]
        assert data["response_extensions"][0]["extn_value"].native == nonce
        responder = x509.load_der_x509_certificate(basic["certs"][0].dump())
        assert responder.subject == trust.authority("ocsp-seal-ca").cert.subject
        responder.public_key().verify(basic["signature"].native, data.dump(),
                                      ec.ECDSA(hashes.SHA256()))
        single = data["responses"][0]
        assert single["next_update"].native > single["this_update"].native
        return single["cert_status"]

    assert (await ask(leaf.serial_number)).name == "good"
    assert (await ask(12345)).name == "unknown"
    await trust.revoke(row, "key_compromise")
    status = await ask(leaf.serial_number, nonce=b"another nonce")
    assert status.name == "revoked"
    assert status.chosen["revocation_reason"].native == "key_compromise"
    assert ocsp_mod.response_status(await trust.ocsp_response(b"garbage")) == "malformed_request"


async def test_the_bundle_answers_for_every_certificate_and_carries_the_roots_crl(
        trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    bundle = await trust.validation_bundle([row], after_signing=False)
    # Only the root's CRL: it covers the issuing CAs and the TSA; OCSP covers the rest.
    (crl,) = [asn1_crl.CertificateList.load(d) for d in bundle.crls]
    assert crl["tbs_cert_list"]["issuer"] == trust.authority("root").asn1.subject
    answered = set()
    for der in bundle.ocsps:
        tbs = asn1_ocsp.OCSPResponse.load(der).basic_ocsp_response["tbs_response_data"]
        answered.add(f"{tbs['responses'][0]['cert_id']['serial_number'].native:x}")
    names = ("seal-ca", "tsa", "ocsp-seal-ca")
    assert answered == {row.serial, *(trust.authority(n).row.serial for n in names)}
    # A revocation in another process reaches the issuing CA's published CRL at once.
    other = await TrustService.open(settings)
    await other.revoke(await other.issue_seal_certificate(cabinet), "superseded")
    published = asn1_crl.CertificateList.load(await trust.crl("seal-ca"))
    assert len(published["tbs_cert_list"]["revoked_certificates"]) == 1


async def test_a_workers_answer_is_the_responders_answer_byte_for_byte(trust, cabinet):
    # Signing workers answer OCSP orders from pre-encoded pieces (AnswerTemplate): the
    # bytes must be those build_response makes, for a good and for a revoked certificate.
    row = await trust.seal_certificate_for(cabinet)
    now = clock.now().replace(microsecond=0)
    for revoke in (False, True):
        if revoke:
            await trust.revoke(row, "key_compromise")
        (order, *_) = (await trust.validation_bundle([row])).orders
        issuer, responder = (asn1_x509.Certificate.load(d)
                             for d in (order.issuer_der, order.responder_der))
        status = ocsp_mod.CertStatus(
            ocsp_mod.cert_id_for(asn1_x509.Certificate.load(order.cert_der), issuer),
            "revoked" if revoke else "good", order.revoked_at, order.reason)
        algorithm = trust.authority("root").asn1["signature_algorithm"]
        expected = ocsp_mod.build_response(statuses=[status], responder=responder,
                                           sign=lambda d: b"signature", now=now,
                                           signature_algorithm=algorithm)
        template = ocsp_mod.AnswerTemplate.of(order, algorithm)
        assert template.answer(lambda d: b"signature", now,
                               ocsp_mod.order_next_update(order, now)) == expected
