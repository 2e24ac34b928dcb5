"""pyHanko signers and timestamper built from settings alone, cached per process."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading

from asn1crypto import cms, tsp
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pyhanko.sign.signers import Signer
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from compat import pyhanko as compat_pyhanko
from workflows import clock
from workflows.errors import KeystoreError, TrustServiceError
from workflows.ports import CoreSettings
from workflows.trust import ocsp as ocsp_mod
from workflows.trust import tsa as tsa_mod
from workflows.trust.keystore import (
    Pkcs11Keystore,
    SoftwareKeystore,
    open_pkcs11_session,
    sign_with_private_key,
)
from workflows.trust.pades_cms import PadesCms
from workflows.trust.refs import SigningKeyRef
from workflows.trust.tsa import TSA_IDENTITY_FILE
from workflows.trust.x509sign import signed_digest_algorithm


_LOCK = threading.Lock()
_SIGNERS: dict[tuple, Signer] = {}
_KEYSTORES: dict[tuple, SoftwareKeystore] = {}
_TIMESTAMPERS: dict[tuple, TimeStamper] = {}


class KeptKeySigner(Signer):
    """A signer holding an already-parsed ``cryptography`` key.

    pyHanko's SimpleSigner re-parses its PKCS#8 key on every signature (about 43 ms of a
    110 ms seal, NOTES.md); this one parses it once. The dry run pyHanko makes to size the
    signature field returns a placeholder of the largest size the key can produce. A PAdES
    signature's CMS is assembled from pieces encoded once (workflows.trust.pades_cms).
    """

    def __init__(self, key, signing_cert: asn1_x509.Certificate,
                 chain: list[asn1_x509.Certificate]) -> None:
        self._key = key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            # DER ECDSA: SEQUENCE of two INTEGERs of at most (bits/8 + 1) bytes each.
            size = (key.curve.key_size + 7) // 8 + 1
            self._max_signature = 2 * (size + 2) + 3
        elif isinstance(key, rsa.RSAPrivateKey):
            self._max_signature = (key.key_size + 7) // 8
        else:
            raise KeystoreError("unsupported key type")
        super().__init__(signing_cert=signing_cert,
                         cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]))
        self._pades = PadesCms.of(signing_cert, chain,
                                  self.get_signature_mechanism_for_digest("sha256"))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return bytes(self._max_signature)
        if digest_algorithm.lower() != "sha256":
            raise KeystoreError("Paraphe keys sign with SHA-256 only")
        return sign_with_private_key(self._key, data)

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run=False,
                         use_pades=False, timestamper=None, signed_attr_settings=None,
                         is_pdf_sig=True, encap_content_info=None) -> cms.ContentInfo:
        """pyHanko's CMS for a timestamped PAdES signature, built from DER pieces; any
        other request (a dry run, CAdES attributes, no timestamper...) goes to pyHanko.
        The parameters are pyHanko's, checked by compat.pyhanko at start-up."""
        if not compat_pyhanko.plain_pades_request(
                data_digest=data_digest, digest_algorithm=digest_algorithm, dry_run=dry_run,
                use_pades=use_pades, timestamper=timestamper,
                signed_attr_settings=signed_attr_settings, is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info):
            return await super().async_sign(
                data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        signed = self._pades.signed_attributes(data_digest)
        signature = await self.async_sign_raw(signed, "sha256")
        token = await timestamper.async_timestamp(hashlib.sha256(signature).digest(), "sha256")
        return cms.ContentInfo.load(self._pades.content_info(signed, signature, token.dump()))


def _software_keystore(settings: CoreSettings) -> SoftwareKeystore:
    key = (str(settings.home), _master_fingerprint(settings), os.getpid())
    with _LOCK:
        keystore = _KEYSTORES.get(key)
        if keystore is None:
            keystore = _KEYSTORES[key] = SoftwareKeystore(settings)
    return keystore


def _master_fingerprint(settings: CoreSettings) -> int:
    # Only a hash of it, so the secret itself never becomes a dictionary key in memory dumps.
    secret = settings.master_key.get_secret_value() if settings.master_key else ""
    return hash(("paraphe", secret))


def load_signer(settings: CoreSettings, key: SigningKeyRef) -> Signer:
    """A pyHanko Signer for ``key``, built once per process and reused.

    Raises KeyNotFoundError, MasterKeyWrongError or KeystoreError.
    """
    cache_key = (str(settings.home), key.key_ref, key.cert_der, os.getpid())
    signer = _SIGNERS.get(cache_key)
    if signer is not None:
        return signer
    cert, chain = key.cert, key.chain
    if key.keystore == "pkcs11":
        # lazy: pyHanko's PKCS#11 module loads python-pkcs11, needed only with an HSM.
        from pyhanko.sign.pkcs11 import PKCS11Signer

        # The raw mechanisms (CKM_ECDSA, CKM_RSA_PKCS over a digest computed here) are the
        # ones every token has; SoftHSM2 has no CKM_ECDSA_SHA256, for one.
        signer = PKCS11Signer(open_pkcs11_session(settings), key_label=key.key_ref,
                              signing_cert=cert, ca_chain=chain, other_certs_to_pull=(),
                              use_raw_mechanism=True)
    elif key.keystore == "software":
        signer = KeptKeySigner(_software_keystore(settings).load(key.key_ref), cert, chain)
    else:
        raise KeystoreError(f"unknown keystore kind {key.keystore!r}")
    with _LOCK:
        return _SIGNERS.setdefault(cache_key, signer)


class EmbeddedTimeStamper(TimeStamper):
    """The platform's own TSA answered in-process: no HTTP round trip per signature."""

    def __init__(self, identity: tsa_mod.TsaIdentity) -> None:
        super().__init__()
        self.identity = identity

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(tsa_mod.respond(req.dump(), self.identity))


def tsa_identity_from_settings(settings: CoreSettings) -> tsa_mod.TsaIdentity:
    """The embedded TSA as published by TrustService.open; raises TrustServiceError."""
    path = settings.home / "keys" / TSA_IDENTITY_FILE
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise TrustServiceError(
            "the embedded TSA is not set up: the trust service has not started here") from None
    cert = asn1_x509.Certificate.load(base64.b64decode(data["cert"]))
    chain = tuple(asn1_x509.Certificate.load(base64.b64decode(c)) for c in data["chain"])
    key_ref = data["key_ref"]
    if data["keystore"] == "pkcs11":
        keystore = Pkcs11Keystore(settings)
        sign = lambda payload: keystore.sign(key_ref, payload)  # noqa: E731
        public = None
    else:
        private = _software_keystore(settings).load(key_ref)
        sign = lambda payload: sign_with_private_key(private, payload)  # noqa: E731
        public = private.public_key()
    if public is None:
        public = load_der_public_key(cert.public_key.dump())
    return tsa_mod.TsaIdentity(cert=cert, chain=chain, sign=sign,
                               signature_algorithm=signed_digest_algorithm(public), now=clock.now)


def load_timestamper(settings: CoreSettings,
                     identity: tsa_mod.TsaIdentity | None = None) -> TimeStamper:
    """HTTPTimeStamper(PARAPHE_TSA_URL) when set, else the embedded TSA in-process (from
    ``identity`` when given, else from the TSA identity published under PARAPHE_HOME).
    Cached per process. Raises TrustServiceError when the embedded TSA is not set up."""
    if identity is not None and not settings.tsa_url:
        return EmbeddedTimeStamper(identity)
    if settings.tsa_url:
        key = ("url", settings.tsa_url, os.getpid())
    else:
        key = ("embedded", str(settings.home), os.getpid())
    stamper = _TIMESTAMPERS.get(key)
    if stamper is None:
        if settings.tsa_url:
            stamper = HTTPTimeStamper(settings.tsa_url)
        else:
            stamper = EmbeddedTimeStamper(tsa_identity_from_settings(settings))
        with _LOCK:
            stamper = _TIMESTAMPERS.setdefault(key, stamper)
    return stamper


_RAW: dict[tuple, tuple] = {}


def _raw_signer(settings: CoreSettings, keystore_kind: str, key_ref: str, cert_der: bytes):
    """(sign(data) -> signature, signature algorithm) for the key of a certificate, once
    per process."""
    cache_key = (str(settings.home), keystore_kind, key_ref, os.getpid())
    found = _RAW.get(cache_key)
    if found is None:
        public = x509.load_der_x509_certificate(cert_der).public_key()
        if keystore_kind == "pkcs11":
            keystore = Pkcs11Keystore(settings)
            sign = lambda payload: keystore.sign(key_ref, payload)  # noqa: E731
        else:
            private = _software_keystore(settings).load(key_ref)
            sign = lambda payload: sign_with_private_key(private, payload)  # noqa: E731
        found = _RAW[cache_key] = (sign, signed_digest_algorithm(public))
    return found


def answer_orders(settings: CoreSettings, orders) -> list:
    """The OCSP answers (asn1crypto) the OcspOrders ask for, signed now in this process:
    a signing worker calls it right after the signature, so they postdate its timestamp.
    Raises KeystoreError."""
    now = clock.now().replace(microsecond=0)
    answers = []
    for order in orders:
        sign, algorithm = _raw_signer(settings, order.keystore, order.responder_key_ref,
                                      order.responder_der)
        key = (order.cert_der, order.responder_der, order.revoked_at, order.reason)
        template = _TEMPLATES.get(key)
        if template is None:
            template = _TEMPLATES[key] = ocsp_mod.AnswerTemplate.of(order, algorithm)
            while len(_TEMPLATES) > 256:  # One-time certificates: one order each.
                del _TEMPLATES[next(iter(_TEMPLATES))]
        der = template.answer(sign, now, ocsp_mod.order_next_update(order, now))
        answers.append(asn1_ocsp.OCSPResponse.load(der))
    return answers


_TEMPLATES: dict[tuple, ocsp_mod.AnswerTemplate] = {}
