"""OCSP (RFC 6960): parsing requests and building signed responses, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from collections.abc import Callable

from asn1crypto import algos, core, ocsp
from asn1crypto import x509 as asn1_x509

from workflows.errors import ParapheError
from workflows.trust.der import tlv

# Answers are reused in validation bundles while they are in the first half of this window.
OCSP_VALIDITY = timedelta(days=1)
MAX_NONCE_BYTES = 128
_RESPONSE_CT = "application/ocsp-response"


class OcspRequestError(ParapheError):
    """The OCSP request cannot be parsed."""
    code = "ocsp_malformed_request"


@dataclass(frozen=True)
class OcspQuery:
    cert_ids: tuple[ocsp.CertId, ...]
    nonce: bytes | None


@dataclass(frozen=True)
class CertStatus:
    """What the responder says of one certificate."""

    cert_id: ocsp.CertId
    status: str  # good | revoked | unknown
    revoked_at: datetime | None = None
    reason: str | None = None


def parse_request(der: bytes) -> OcspQuery:
    """The certificate IDs and nonce of a DER OCSPRequest; raises OcspRequestError."""
    try:
        req = ocsp.OCSPRequest.load(der)
        tbs = req["tbs_request"]
        cert_ids = tuple(item["req_cert"] for item in tbs["request_list"])
        for cert_id in cert_ids:
            # Force a full parse now, so a broken request fails here and not halfway through.
            cert_id.native  # noqa: B018
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].native == "nonce":
                nonce = ext["extn_value"].parsed.native
            elif ext["critical"].native:
                raise OcspRequestError("unsupported critical extension in OCSP request")
    except OcspRequestError:
        raise
    except Exception:  # asn1crypto raises many types on garbage input.
        raise OcspRequestError("the OCSP request is not valid DER") from None
    if not cert_ids:
        raise OcspRequestError("the OCSP request names no certificate")
    if nonce is not None and not 0 < len(nonce) <= MAX_NONCE_BYTES:
        raise OcspRequestError("the OCSP nonce has an invalid length")
    return OcspQuery(cert_ids=cert_ids, nonce=nonce)


def error_response(status: str) -> bytes:
    """An unsigned OCSP error: malformed_request, internal_error, try_later, unauthorized."""
    return ocsp.OCSPResponse({"response_status": status}).dump()


def response_status(der: bytes) -> str:
    """The responseStatus of a DER OCSP response (successful, malformed_request...)."""
    return ocsp.OCSPResponse.load(der)["response_status"].native


def cert_id_for(cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate) -> ocsp.CertId:
    """The SHA-1 CertID of ``cert`` (the form every client sends)."""
    return ocsp.CertId({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
        "issuer_name_hash": issuer.subject.sha1,
        "issuer_key_hash": issuer.public_key.sha1,
        "serial_number": cert.serial_number,
    })


def build_response(*, statuses: list[CertStatus], responder: asn1_x509.Certificate,
                   sign: Callable[[bytes], bytes], signature_algorithm: algos.SignedDigestAlgorithm,
                   now: datetime, nonce: bytes | None = None,
                   embed_responder: bool = True, validity: timedelta = OCSP_VALIDITY) -> bytes:
    """A signed, successful basic OCSP response, fresh from `now` for `validity`;
    ``sign`` raises KeystoreError."""
    now = now.replace(microsecond=0)
    responses = []
    for item in statuses:
        if item.status == "good":
            status = ocsp.CertStatus(name="good", value=core.Null())
        elif item.status == "revoked":
            info = {"revocation_time": item.revoked_at.replace(microsecond=0)}
            if item.reason and item.reason != "unspecified":
                info["revocation_reason"] = item.reason
            status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
        else:
            status = ocsp.CertStatus(name="unknown", value=core.Null())
        responses.append(ocsp.SingleResponse({
            "cert_id": item.cert_id, "cert_status": status,
            "this_update": now, "next_update": now + validity,
        }))
    data = {
        "version": "v1",
        "responder_id": ocsp.ResponderId(name="by_key", value=responder.public_key.sha1),
        "produced_at": now,
        "responses": responses,
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False,
                                        "extn_value": nonce}]
    tbs = ocsp.ResponseData(data)
    basic = {
        "tbs_response_data": tbs,
        "signature_algorithm": signature_algorithm,
        "signature": sign(tbs.dump()),
    }
    if embed_responder:
        basic["certs"] = [responder]
    return ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response",
                           "response": ocsp.BasicOCSPResponse(basic)},
    }).dump()



_BASIC_OCSP = core.ObjectIdentifier("1.3.6.1.5.5.7.48.1.1").dump()
_SUCCESSFUL = b"\x0a\x01\x00"  # responseStatus ENUMERATED successful (0)


@dataclass(frozen=True)
class AnswerTemplate:
    """The constant DER pieces of `build_response`'s answer about one certificate: a
    signing worker answers an OcspOrder after every signature, and building it with
    asn1crypto objects took 3 ms an answer, most of a seal."""

    responder_id: bytes
    cert_part: bytes  # certID and certStatus of the SingleResponse
    signature_algorithm: bytes
    certs: bytes  # [0] EXPLICIT SEQUENCE OF Certificate: the responder's

    @classmethod
    def of(cls, order, signature_algorithm: algos.SignedDigestAlgorithm) -> AnswerTemplate:
        cert = asn1_x509.Certificate.load(order.cert_der)
        responder = asn1_x509.Certificate.load(order.responder_der)
        cert_id = cert_id_for(cert, asn1_x509.Certificate.load(order.issuer_der))
        if order.revoked_at is None:
            status = ocsp.CertStatus(name="good", value=core.Null())
        else:
            info = {"revocation_time": order.revoked_at.replace(microsecond=0)}
            if order.reason and order.reason != "unspecified":
                info["revocation_reason"] = order.reason
            status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
        return cls(
            responder_id=ocsp.ResponderId(name="by_key", value=responder.public_key.sha1).dump(),
            cert_part=cert_id.dump() + status.dump(),
            signature_algorithm=signature_algorithm.dump(),
            certs=tlv(0xA0, tlv(0x30, responder.dump())))

    def answer(self, sign: Callable[[bytes], bytes], now: datetime,
               next_update: datetime) -> bytes:
        """The DER OCSPResponse as `build_response` makes it, produced at `now`."""
        now = now.replace(microsecond=0)
        produced = core.GeneralizedTime(now).dump()
        single = tlv(0x30, self.cert_part + produced + tlv(
            0xA0, core.GeneralizedTime(next_update.replace(microsecond=0)).dump()))
        tbs = tlv(0x30, self.responder_id + produced + tlv(0x30, single))
        basic = tlv(0x30, tbs + self.signature_algorithm + tlv(0x03, b"\x00" + sign(tbs))
                    + self.certs)
        return tlv(0x30, _SUCCESSFUL + tlv(0xA0, tlv(0x30, _BASIC_OCSP + tlv(0x04, basic))))


def order_next_update(order, now: datetime) -> datetime:
    """nextUpdate of the answer to an OcspOrder produced at `now`."""
    now = now.replace(microsecond=0)
    return order.until if order.until is not None else now + order.validity
