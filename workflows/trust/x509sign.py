"""Signing certificates and CRLs with a keystore key that may live outside the process.

``cryptography``'s builders only sign with an in-memory key, and a PKCS#11 key never leaves
its token. So a builder signs with a throw-away key of the issuer's type (which fixes the
same signatureAlgorithm in the to-be-signed part), then the real keystore signs those bytes
and the result is reassembled with asn1crypto.
"""

from __future__ import annotations

import functools

from asn1crypto import algos
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from workflows.errors import KeystoreError


@functools.lru_cache(maxsize=8)
def _stand_in_key(algorithm: str, size: int):
    if algorithm == "ec":
        return ec.generate_private_key(ec.SECP256R1() if size == 256 else ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def stand_in_for(public_key):
    """A cached throw-away private key of the same type and size as ``public_key``."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _stand_in_key("ec", public_key.curve.key_size)
    if isinstance(public_key, rsa.RSAPublicKey):
        return _stand_in_key("rsa", public_key.key_size)
    raise KeystoreError("unsupported issuer key type")


def signed_digest_algorithm(public_key) -> algos.SignedDigestAlgorithm:
    """The SHA-256 signature algorithm identifier for a key (ECDSA or RSA PKCS#1 v1.5)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if isinstance(public_key, rsa.RSAPublicKey):
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    raise KeystoreError("unsupported key type")


def sign_certificate(builder: x509.CertificateBuilder, keystore, key_ref: str,
                     issuer_public_key) -> bytes:
    """The DER certificate of ``builder`` signed by ``key_ref``; raises KeystoreError."""
    draft = builder.sign(stand_in_for(issuer_public_key), hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    parsed = asn1_x509.Certificate.load(draft.public_bytes(serialization.Encoding.DER))
    return asn1_x509.Certificate({
        "tbs_certificate": parsed["tbs_certificate"],
        "signature_algorithm": parsed["signature_algorithm"],
        "signature_value": keystore.sign(key_ref, tbs),
    }).dump(force=False)


def sign_crl(builder: x509.CertificateRevocationListBuilder, keystore, key_ref: str,
             issuer_public_key) -> bytes:
    """The DER CRL of ``builder`` signed by ``key_ref``; raises KeystoreError."""
    draft = builder.sign(stand_in_for(issuer_public_key), hashes.SHA256())
    parsed = asn1_crl.CertificateList.load(draft.public_bytes(serialization.Encoding.DER))
    return asn1_crl.CertificateList({
        "tbs_cert_list": parsed["tbs_cert_list"],
        "signature_algorithm": parsed["signature_algorithm"],
        "signature": keystore.sign(key_ref, draft.tbs_certlist_bytes),
    }).dump(force=False)
