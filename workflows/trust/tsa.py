"""The RFC 3161 time-stamping authority: a DER request in, a DER response out, no I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Callable

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.general import as_signing_certificate_v2

from workflows.trust.der import attribute, tlv

# Where the embedded TSA's identity (certificate and key name) is published in
# $PARAPHE_HOME/keys, for the signing workers: TrustService writes it, they read it.
TSA_IDENTITY_FILE = "tsa-identity.json"

# A policy OID in the UUID arc (X.667, 2.25): anyone may mint one without registration.
TSA_POLICY = "2.25.238474059017442387493846116151437236181"
ACCEPTED_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class TsaIdentity:
    """The TSA certificate, its chain, how to sign with its key and what time it is."""

    cert: asn1_x509.Certificate
    chain: tuple[asn1_x509.Certificate, ...]
    sign: Callable[[bytes], bytes]
    signature_algorithm: algos.SignedDigestAlgorithm
    now: Callable[[], datetime]
    policy: str = TSA_POLICY
    parts: _Parts = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The constant pieces of every answer, encoded once.
        object.__setattr__(self, "parts", _Parts.of(self))


class TimeStampResp(core.Sequence):
    """RFC 3161's TimeStampResp; asn1crypto's own makes the token mandatory, so a rejection
    (which carries none) could not be encoded with it."""

    _fields = [("status", tsp.PKIStatusInfo),
               ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def rejection(*reasons: str, text: str) -> bytes:
    """A DER TimeStampResp refusing the request (RFC 3161 PKIFailureInfo names)."""
    return TimeStampResp({"status": {
        "status": "rejection",
        "status_string": [text],
        "fail_info": tsp.PKIFailureInfo(set(reasons)),
    }}).dump()


def respond(request_der: bytes, tsa: TsaIdentity) -> bytes:
    """Answers one TimeStampReq with a granted TimeStampResp or a rejection (never raises
    for bad input; a keystore failure answers systemFailure)."""
    try:
        req = tsp.TimeStampReq.load(request_der)
        imprint = req["message_imprint"]
        digest_algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        imprint.dump()  # It is copied into the token as sent.
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        policy = req["req_policy"].native
        extensions = req["extensions"].native
    except Exception:  # asn1crypto raises many types on garbage input.
        return rejection("bad_data_format", text="the request is not a valid TimeStampReq")
    if digest_algorithm not in ACCEPTED_DIGESTS:
        return rejection("bad_alg", text="use SHA-256, SHA-384 or SHA-512")
    if len(digest) != ACCEPTED_DIGESTS[digest_algorithm]:
        return rejection("bad_data_format", text="the digest has the wrong length")
    if policy is not None and policy != tsa.policy:
        return rejection("unaccepted_policy", text="this TSA only issues under its own policy")
    if extensions:
        return rejection("unaccepted_extension", text="no request extension is supported")

    gen_time = tsa.now().replace(microsecond=0)
    parts = tsa.parts
    tst_info = tlv(0x30, b"".join((
        parts.version_1, parts.policy, imprint.dump(),
        # 128 random bits: unique across processes without any shared counter.
        core.Integer(secrets.randbits(127) | (1 << 126)).dump(),
        core.GeneralizedTime(gen_time).dump(), parts.accuracy,
        core.Integer(nonce).dump() if nonce is not None else b"",
        parts.tsa_name,
    )))
    attributes = sorted((
        parts.content_type_attr,
        attribute(_OID_SIGNING_TIME, core.UTCTime(gen_time).dump()),
        attribute(_OID_MESSAGE_DIGEST, core.OctetString(hashlib.sha256(tst_info).digest()).dump()),
        parts.signing_certificate_attr,
    ))
    try:
        # What is signed is the attributes as a SET (RFC 5652 §5.4).
        signature = tsa.sign(tlv(0x31, b"".join(attributes)))
    except Exception:
        return rejection("system_failure", text="the TSA cannot sign now")
    signer_info = tlv(0x30, b"".join((
        parts.version_1, parts.signer_id, parts.sha256,
        tlv(0xA0, b"".join(attributes)),  # [0] IMPLICIT SET OF Attribute
        parts.signature_algorithm, core.OctetString(signature).dump(),
    )))
    signed_data = tlv(0x30, b"".join((
        parts.version_3, tlv(0x31, parts.sha256),
        tlv(0x30, parts.tst_info_oid + tlv(0xA0, core.OctetString(tst_info).dump())),
        parts.certificates if cert_req else b"",
        tlv(0x31, signer_info),
    )))
    token = tlv(0x30, parts.signed_data_oid + tlv(0xA0, signed_data))
    return tlv(0x30, parts.granted + token)


# The granted answer is assembled from DER pieces: building it with asn1crypto objects
# re-encodes the certificates on every request and took 7 ms, most of a seal's budget.
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
_OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"


@dataclass(frozen=True)
class _Parts:
    version_1: bytes
    version_3: bytes
    policy: bytes
    accuracy: bytes
    tsa_name: bytes
    content_type_attr: bytes
    signing_certificate_attr: bytes
    signer_id: bytes
    sha256: bytes
    signature_algorithm: bytes
    tst_info_oid: bytes
    signed_data_oid: bytes
    certificates: bytes
    granted: bytes

    @classmethod
    def of(cls, tsa: TsaIdentity) -> _Parts:
        cert_ders = sorted(c.dump() for c in (tsa.cert, *tsa.chain))  # DER SET OF order
        name = asn1_x509.GeneralName(name="directory_name", value=tsa.cert.subject).dump()
        return cls(
            version_1=core.Integer(1).dump(), version_3=core.Integer(3).dump(),
            policy=core.ObjectIdentifier(tsa.policy).dump(),
            accuracy=tlv(0x30, core.Integer(1).dump()),
            tsa_name=tlv(0xA0, name),  # tsa [0] EXPLICIT GeneralName
            content_type_attr=attribute(
                _OID_CONTENT_TYPE, core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()),
            signing_certificate_attr=attribute(
                _OID_SIGNING_CERTIFICATE_V2, as_signing_certificate_v2(tsa.cert).dump()),
            signer_id=cms.IssuerAndSerialNumber({
                "issuer": tsa.cert.issuer, "serial_number": tsa.cert.serial_number}).dump(),
            sha256=algos.DigestAlgorithm({"algorithm": "sha256"}).dump(),
            signature_algorithm=tsa.signature_algorithm.dump(),
            tst_info_oid=core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump(),
            signed_data_oid=core.ObjectIdentifier("1.2.840.113549.1.7.2").dump(),
            certificates=tlv(0xA0, b"".join(cert_ders)),  # [0] IMPLICIT SET OF
            granted=tlv(0x30, core.Integer(0).dump()),  # PKIStatusInfo { granted }
        )
