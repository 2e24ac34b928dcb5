"""Plain, picklable values the trust service hands to signing code in any process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import crl, ocsp
from asn1crypto import x509 as asn1_x509


@dataclass(frozen=True)
class SigningKeyRef:
    """Everything a worker process needs to build a signer, besides the settings."""

    cert_der: bytes
    """The signer's certificate (DER)."""
    chain_ders: tuple[bytes, ...]
    """Its issuing CA(s) then the root (DER), closest first."""
    key_ref: str
    """The key's name in the keystore (file name or PKCS#11 label)."""
    keystore: str
    """``software`` or ``pkcs11``: where the key is."""

    @property
    def cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert_der)

    @property
    def chain(self) -> list[asn1_x509.Certificate]:
        return [asn1_x509.Certificate.load(d) for d in self.chain_ders]


@dataclass(frozen=True)
class OcspOrder:
    """An OCSP answer for a worker to sign right after the signature it is for, so the
    DSS holds revocation data issued after the signature's timestamp (EN 319 142-1)."""

    cert_der: bytes
    issuer_der: bytes
    responder_der: bytes
    """The responder's certificate: the issuing CA's delegated responder, or the root."""
    responder_key_ref: str
    keystore: str
    validity: timedelta
    """thisUpdate to nextUpdate of the answer…"""
    until: datetime | None = None
    """…or its nextUpdate itself (a time-stamping unit's: its certificate's expiry)."""
    revoked_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ValidationBundle:
    """Validation data for whole chains (TSA included), to embed in a PDF's DSS (B-LT)."""

    certs: tuple[bytes, ...]
    """Every certificate of the chains, the TSA's and the OCSP responders' (DER)."""
    crls: tuple[bytes, ...]
    """The current CRL of every CA in those chains (DER)."""
    ocsps: tuple[bytes, ...]
    """An OCSP response (DER) for every certificate of the chains but the root."""
    orders: tuple[OcspOrder, ...] = ()
    """Instead of `ocsps`: answers to sign after the signature (see OcspOrder)."""

    @property
    def asn1_certs(self) -> list[asn1_x509.Certificate]:
        return [asn1_x509.Certificate.load(d) for d in self.certs]

    @property
    def asn1_crls(self):
        return [crl.CertificateList.load(d) for d in self.crls]

    @property
    def asn1_ocsps(self):
        return [ocsp.OCSPResponse.load(d) for d in self.ocsps]
