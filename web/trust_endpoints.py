"""HTTP face of the trust service: CA certificates, CRLs and the CPS under /ca/, OCSP, the TSA."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from aiohttp import web

from paraphe.templating import render
from workflows.errors import CertificateNotFoundError
from workflows.trust import ocsp as ocsp_mod
from workflows.trust import profiles
from workflows.trust import tsa as tsa_mod

CT_CERT = "application/pkix-cert"
CT_PEM = "application/x-pem-file"
CT_CRL = "application/pkix-crl"
CT_OCSP_RESPONSE = "application/ocsp-response"
CT_TS_REPLY = "application/timestamp-reply"
# OCSP and time-stamp requests are a few hundred bytes; nothing legitimate comes near this.
MAX_REQUEST_BYTES = 64 * 1024
_CA_FILE = re.compile(r"^(?P<name>[a-z0-9-]{1,64})\.(?P<ext>crt|pem|cer|crl)$")
# Revocation must show at once, so nothing is cached on the way.
_NO_STORE = {"Cache-Control": "no-cache, max-age=0"}


def cps_text(settings) -> str:
    """The certification practice statement every certificate's policy names: French, then
    English, in one document (a certificate carries one CPS URI, not one per language)."""
    context = {
        "public_url": settings.public_url, "cps_url": settings.public_url + profiles.CPS_PATH,
        "platform_siren": settings.platform_siren,
        "policies": {kind: profiles.policy_oid(settings.policy_oid, kind)
                     for kind in profiles.POLICY_ARCS},
        "placeholder": settings.policy_oid == profiles.DEFAULT_POLICY_OID,
        "responder_days": profiles.OCSP_RESPONDER_LIFETIME.days,
    }
    return "\n\n".join(render("legal/platform/cps", lang, **context).strip()
                         for lang in ("fr", "en")) + "\n"


def add_trust_routes(app: web.Application, trust) -> None:
    """Adds GET /ca/<name>.crt|.pem|.crl, GET /ca/cps, POST /ocsp, GET /ocsp/<base64>,
    POST /tsa."""
    cps_body = cps_text(trust.settings).encode()

    async def cps(request: web.Request) -> web.Response:
        return web.Response(body=cps_body, content_type="text/plain", charset="utf-8")

    async def ca_file(request: web.Request) -> web.Response:
        match = _CA_FILE.match(request.match_info["file"])
        if match is None:
            raise web.HTTPNotFound(text="no such file")
        name, ext = match["name"], match["ext"]
        try:
            if ext == "crl":
                return web.Response(body=await trust.crl(name), content_type=CT_CRL,
                                    headers=_NO_STORE)
            authority = trust.authority(name)
        except CertificateNotFoundError:
            raise web.HTTPNotFound(text="no such certificate authority") from None
        if ext == "pem":
            from cryptography.hazmat.primitives.serialization import Encoding

            return web.Response(body=authority.cert.public_bytes(Encoding.PEM),
                                content_type=CT_PEM)
        return web.Response(body=authority.der, content_type=CT_CERT)

    async def _ocsp_answer(der: bytes) -> web.Response:
        answer = await trust.ocsp_response(der)
        status = ocsp_mod.response_status(answer)
        return web.Response(body=answer, content_type=CT_OCSP_RESPONSE, headers=_NO_STORE,
                            status=400 if status == "malformed_request" else 200)

    def _malformed_ocsp() -> web.Response:
        return web.Response(body=ocsp_mod.error_response("malformed_request"), status=400,
                            content_type=CT_OCSP_RESPONSE)

    async def ocsp_post(request: web.Request) -> web.Response:
        body = await _read_small(request)
        if body is None:
            return _malformed_ocsp()
        return await _ocsp_answer(body)

    async def ocsp_get(request: web.Request) -> web.Response:
        # RFC 6960 appendix A.1: the URL-encoded base64 of the DER request.
        encoded = urllib.parse.unquote(request.match_info["request"])
        try:
            der = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return _malformed_ocsp()
        if not der or len(der) > MAX_REQUEST_BYTES:
            return _malformed_ocsp()
        return await _ocsp_answer(der)

    async def tsa_post(request: web.Request) -> web.Response:
        body = await _read_small(request)
        if body is None:
            answer = tsa_mod.rejection("bad_data_format", text="empty or oversized request")
        else:
            answer = tsa_mod.respond(body, trust.tsa_identity())
        granted = tsa_mod.TimeStampResp.load(answer)["status"]["status"].native == "granted"
        return web.Response(body=answer, content_type=CT_TS_REPLY, status=200 if granted else 400)

    app.router.add_get(profiles.CPS_PATH, cps)  # Before /ca/{file}, which would answer 404.
    app.router.add_get("/ca/{file}", ca_file)
    app.router.add_post("/ocsp", ocsp_post)
    app.router.add_get("/ocsp/{request:.+}", ocsp_get)
    app.router.add_post("/tsa", tsa_post)


async def _read_small(request: web.Request) -> bytes | None:
    """The request body, or None when it is empty or over MAX_REQUEST_BYTES."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        return None
    body = await request.content.read(MAX_REQUEST_BYTES + 1)
    if not body or len(body) > MAX_REQUEST_BYTES:
        return None
    return body
