"""/ca/, /ocsp and /tsa over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import urllib.parse

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from tests.conftest import require_tool
from tests.pdfs import make_pdf
from tests.web.trust_server import free_public_url, serving_trust
from tests.workflows.trust.blt import sign_blt
from web.trust_endpoints import add_trust_routes
from workflows import clock
from workflows.models import Cabinet
from workflows.trust import ocsp as ocsp_mod
from workflows.trust.ca import TrustService


@pytest.fixture
async def trust(db, settings):
    return await TrustService.open(settings)


@pytest.fixture
async def client(trust):
    app = web.Application()
    add_trust_routes(app, trust)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def seal(trust):
    cabinet = await Cabinet.create(slug="dupont", name="Cabinet Dupont", siren="552100554",
                                   created_at=clock.now())
    return await trust.seal_certificate_for(cabinet)


def _ocsp_request(trust, row, nonce: bytes = b"nonce-0123456789") -> bytes:
    leaf = x509.load_der_x509_certificate(bytes(row.der))
    from asn1crypto import x509 as asn1_x509

    cert_id = ocsp_mod.cert_id_for(asn1_x509.Certificate.load(bytes(row.der)),
                                   trust.authority("seal-ca").asn1)
    assert cert_id["serial_number"].native == leaf.serial_number
    return asn1_ocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": cert_id}],
        "request_extensions": [{"extn_id": "nonce", "extn_value": nonce}]}}).dump()


def _single_status(der: bytes) -> str:
    response = asn1_ocsp.OCSPResponse.load(der)
    return response.basic_ocsp_response["tbs_response_data"]["responses"][0][
        "cert_status"].name


async def test_ca_certificates(client, trust):
    response = await client.get("/ca/root.crt")
    assert response.status == 200 and response.content_type == "application/pkix-cert"
    assert await response.read() == trust.authority("root").der
    response = await client.get("/ca/seal-ca.pem")
    assert (await response.text()).startswith("-----BEGIN CERTIFICATE-----")
    assert (await client.get("/ca/nothing.crt")).status == 404
    assert (await client.get("/ca/root.exe")).status == 404
    assert (await client.get("/ca/tsa.crl")).status == 404


async def test_revocation_shows_at_once_in_crl_and_ocsp(client, trust, seal):
    response = await client.get("/ca/seal-ca.crl")
    assert response.status == 200 and response.content_type == "application/pkix-crl"
    crl = asn1_crl.CertificateList.load(await response.read())
    assert len(crl["tbs_cert_list"]["revoked_certificates"]) == 0

    request = _ocsp_request(trust, seal)
    response = await client.post("/ocsp", data=request,
                                 headers={"Content-Type": "application/ocsp-request"})
    assert response.status == 200 and response.content_type == "application/ocsp-response"
    assert _single_status(await response.read()) == "good"

    await trust.revoke(seal, "key_compromise")

    crl = asn1_crl.CertificateList.load(await (await client.get("/ca/seal-ca.crl")).read())
    assert [e["user_certificate"].native for e in crl["tbs_cert_list"]["revoked_certificates"]] \
        == [int(seal.serial, 16)]
    response = await client.post("/ocsp", data=request,
                                 headers={"Content-Type": "application/ocsp-request"})
    assert _single_status(await response.read()) == "revoked"
    encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
    response = await client.get(f"/ocsp/{encoded}")
    assert response.status == 200 and _single_status(await response.read()) == "revoked"


async def test_bad_ocsp_requests_get_malformed_request(client):
    for response in (await client.post("/ocsp", data=b"\x30\x03garbage"),
                     await client.post("/ocsp", data=b""),
                     await client.get("/ocsp/%%%not-base64"),
                     await client.get("/ocsp/" + base64.b64encode(b"junk").decode())):
        assert response.status == 400
        assert response.content_type == "application/ocsp-response"
        assert ocsp_mod.response_status(await response.read()) == "malformed_request"


async def test_pyhanko_http_timestamper_against_tsa(client, trust):
    url = str(client.make_url("/tsa"))
    stamper = HTTPTimeStamper(url)
    digest = hashlib.sha256(b"document").digest()
    token = await stamper.async_timestamp(digest, "sha256")
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    certs = [c.chosen.dump() for c in token["content"]["certificates"]]
    assert trust.authority("tsa").der in certs


async def test_bad_tsa_requests_get_a_rejection(client):
    response = await client.post("/tsa", data=b"not a request",
                                 headers={"Content-Type": "application/timestamp-query"})
    assert response.status == 400
    assert response.content_type == "application/timestamp-reply"
    from workflows.trust.tsa import TimeStampResp

    status = TimeStampResp.load(await response.read())["status"]
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_data_format"}
    with pytest.raises(TimestampRequestError):
        # SHA-1 is refused, and pyHanko reports the refusal as such.
        await HTTPTimeStamper(str(client.make_url("/tsa"))).async_timestamp(
            hashlib.sha1(b"x").digest(), "sha1")


async def test_pdfsig_trusts_a_seal_then_sees_its_revocation(db, settings, tmp_path):
    pdfsig, certutil = require_tool("pdfsig"), require_tool("certutil")
    settings = settings.model_copy(update={"public_url": free_public_url()})
    trust = await TrustService.open(settings)
    cabinet = await Cabinet.create(slug="dupont", name="Cabinet Dupont", siren="552100554",
                                  created_at=clock.now())
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row], after_signing=False)
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots()))
    nss = tmp_path / "nss"
    nss.mkdir()
    (tmp_path / "root.pem").write_text(trust.root_pem())
    for args in (["-N", "-d", f"sql:{nss}", "--empty-password"],
                 ["-A", "-d", f"sql:{nss}", "-n", "paraphe-root", "-t", "CT,C,C",
                  "-i", str(tmp_path / "root.pem")]):
        proc = await asyncio.create_subprocess_exec(certutil, *args)
        assert await proc.wait() == 0

    async def pdfsig_report() -> str:
        proc = await asyncio.create_subprocess_exec(
            pdfsig, "-nssdir", f"sql:{nss}", str(signed), stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out.decode()

    async with serving_trust(trust):
        report = await pdfsig_report()
        assert "Signature is Valid." in report and "Certificate is Trusted." in report, report
        await trust.revoke(row, "key_compromise")
        report = await pdfsig_report()
        assert "Certificate has been Revoked." in report, report


async def test_the_cps_every_certificate_names_is_served(trust, seal, client):
    cert = x509.load_der_x509_certificate(bytes(seal.der))
    (policy,) = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    (cps_url,) = policy.policy_qualifiers
    assert cps_url == f"{trust.settings.public_url}/ca/cps"
    response = await client.get(urllib.parse.urlsplit(cps_url).path)
    assert response.status == 200 and response.content_type == "text/plain"
    assert response.charset == "utf-8"
    text = await response.text()
    # French first, then English; each policy identifier is explained.
    assert text.index("DÉCLARATION DES PRATIQUES") < text.index("CERTIFICATION PRACTICE")
    assert policy.policy_identifier.dotted_string in text
    for arc in (2, 3, 4):  # Personal, one-time, service certificates.
        assert f"{trust.settings.policy_oid}.{arc}" in text
    assert "ne sont pas qualifiés" in text and "not qualified" in text
    assert "RFC 5612" in text  # The default arc is said to be a placeholder.
    assert (await client.get("/ca/cps.txt")).status == 404
