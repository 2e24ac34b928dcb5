"""The platform's PKI: created on first start, issuing, revoking and publishing certificates."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Iterable

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from workflows import caches, clock
from workflows.errors import (
    CabinetSirenMissingError,
    CertificateMissingError,
    CertificateNotFoundError,
    CertificateRevokedError,
    PersonalCertificateMissingError,
    PersonalCertificateRevokedError,
    TrustServiceError,
)
from workflows.models import Certificate
from workflows.ports import CoreSettings
from workflows.transactions import in_transaction
from workflows.trust import crl as crl_mod
from workflows.trust import ocsp as ocsp_mod
from workflows.trust import profiles
from workflows.trust import shared_keys
from workflows.trust.profiles import AUTHORITIES, AuthoritySpec
from workflows.trust.refs import OcspOrder, SigningKeyRef, ValidationBundle
from workflows.trust.tsa import TSA_IDENTITY_FILE, TsaIdentity
from workflows.trust.x509sign import sign_certificate, signed_digest_algorithm


__all__ = ["TrustService", "SigningKeyRef", "ValidationBundle"]

KEY_KIND = "ec-p256"
# A cabinet's seal certificate is renewed this long before it expires.
RENEW_BEFORE = timedelta(days=30)


# The current seal certificate per (cabinet id, subject) and the revocation state per set of
# CAs: read on every seal, changed only by a certificate row's INSERT or UPDATE.
_SEAL_CERTIFICATES = caches.Cache("seal_certificate", "certificates")
_REVOCATIONS = caches.Cache("revocations", "certificates", size=256)


@dataclass
class Authority:
    """One certificate of the platform's PKI, loaded: row, parsed forms and key name."""

    spec: AuthoritySpec
    row: Certificate
    cert: x509.Certificate
    asn1: asn1_x509.Certificate

    @classmethod
    def of(cls, spec: AuthoritySpec, row: Certificate) -> Authority:
        der = bytes(row.der)
        return cls(spec, row, x509.load_der_x509_certificate(der), asn1_x509.Certificate.load(der))

    @property
    def der(self) -> bytes:
        return bytes(self.row.der)


def _now() -> datetime:
    return clock.now().replace(microsecond=0)


class TrustService:
    """Root and issuing CAs, TSA and OCSP responders, stored as Certificate rows + keys."""

    def __init__(self, settings: CoreSettings, keystore) -> None:
        self.settings = settings
        self.keystore = keystore
        self.authorities: dict[str, Authority] = {}
        self._by_id: dict[int, Authority] = {}
        self._crl_cache: dict[str, tuple[tuple, datetime, bytes]] = {}
        self._ocsp_cache: dict[str, tuple[datetime, bytes]] = {}
        self._issue_locks: dict[Any, asyncio.Lock] = {}
        self._chains: dict[bytes, tuple[Authority, ...]] = {}  # issuer name (DER) -> chain
        self._facts: dict[bytes, tuple] = {}  # certificate DER -> (serial, answer validity)
        self._tsa: TsaIdentity | None = None

    # --- start -----------------------------------------------------------------------

    @classmethod
    async def open(cls, settings: CoreSettings) -> TrustService:
        """Loads the PKI, creating what is missing; safe when two processes start at once.

        Raises KeystoreError (e.g. MasterKeyWrongError) when the keys cannot be used.
        """
        settings.ensure_home()
        service = cls(settings, await shared_keys.open_shared_keystore(settings))
        for spec in AUTHORITIES:
            row = await Certificate.get_or_none(name=spec.name)
            if row is None:
                row = await service._create_authority(spec)
            # Made by another instance on this database: its key comes into this one's folder.
            await shared_keys.fetch(service.keystore, row.key_ref)
            service._load(spec, row)
        await service.renew_tsa_if_due()
        await service.renew_ocsp_responders()
        service._publish_tsa_identity()
        return service

    def _load(self, spec: AuthoritySpec, row: Certificate) -> Authority:
        authority = Authority.of(spec, row)
        self.authorities[spec.name] = authority
        self._by_id[row.id] = authority
        return authority

    async def renew_tsa_if_due(self) -> bool:
        """Certifies a new time-stamping unit when the current one has less than
        TSA_RENEW_BEFORE left, so that archive timestamps renewed before the old unit
        expires are made by one that outlives them. The old unit's row stays (renamed
        `tsa-<serial>`): its timestamps remain checkable. Safe when processes race.
        Returns whether the unit in use changed."""
        current = self.authorities[profiles.TSA]
        if current.row.not_after - clock.now() > profiles.TSA_RENEW_BEFORE:
            return False
        spec = profiles.AUTHORITY_BY_NAME[profiles.TSA]
        await Certificate.filter(id=current.row.id, name=spec.name).update(
            name=f"{spec.name}-{current.row.serial}")
        row = await Certificate.get_or_none(name=spec.name)
        if row is None:
            row = await self._create_authority(spec)
        await shared_keys.fetch(self.keystore, row.key_ref)
        self._load(spec, row)
        self._tsa = None
        self._publish_tsa_identity()
        return True

    async def renew_ocsp_responders(self) -> list[str]:
        """Replaces each OCSP responder certificate that ends within
        OCSP_RESPONDER_RENEW_BEFORE by a new one from the same issuing CA, and picks up
        those another instance renewed; returns the names this call renewed.

        Called when the service opens and by the `renew_ocsp_responders` sweep. The
        retired certificate keeps its row (without a name) and its key until it expires.
        """
        renewed = []
        horizon = clock.now() + profiles.OCSP_RESPONDER_RENEW_BEFORE
        for spec in AUTHORITIES:
            if spec.kind != "ocsp":
                continue
            row = await Certificate.get(name=spec.name)
            # A responder made by an earlier version lived 12 years: replaced at once too.
            too_long = row.not_after - row.not_before > 2 * profiles.OCSP_RESPONDER_LIFETIME
            if row.not_after <= horizon or too_long:
                # Taking the name off the current row under its lock elects one renewer
                # among instances; the others find the new row by name afterwards.
                async with in_transaction():
                    retired = await Certificate.filter(id=row.id, name=spec.name).update(
                        name=None)
                    if retired:
                        row = await self._create_authority(spec)
                        renewed.append(spec.name)
                if not retired:
                    row = await Certificate.get(name=spec.name)
            current = self.authorities.get(spec.name)
            if current is None or current.row.id != row.id:
                await shared_keys.fetch(self.keystore, row.key_ref)
                self._load(spec, row)
                self._ocsp_cache.clear()
        await self._forget_retired_responder_keys()
        return renewed

    async def _forget_retired_responder_keys(self) -> None:
        expired = await Certificate.filter(
            kind="ocsp", name=None, not_after__lt=clock.now(), key_ref__isnull=False
        ).values_list("id", "key_ref")
        for cert_id, key_ref in expired:
            if await Certificate.filter(id=cert_id, key_ref=key_ref).update(key_ref=None):
                await shared_keys.remove(self.keystore, key_ref)

    async def _create_authority(self, spec: AuthoritySpec) -> Certificate:
        key_ref = f"{spec.name}-{secrets.token_hex(6)}"
        public_key = self.keystore.generate(key_ref, KEY_KIND)
        await shared_keys.share(self.keystore, key_ref)
        subject = profiles.authority_subject(spec)
        if spec.parent is None:
            issuer_name, issuer_key_ref = subject, key_ref
            issuer_public, issuer_row = public_key, None
        else:
            parent = self.authorities[spec.parent]
            issuer_name, issuer_key_ref = parent.cert.subject, parent.row.key_ref
            issuer_public, issuer_row = parent.cert.public_key(), parent.row
        now = _now()
        not_after = now + spec.lifetime
        if issuer_row is not None:
            not_after = min(not_after, issuer_row.not_after.replace(microsecond=0))
        builder = profiles.base_builder(
            subject=subject, issuer=issuer_name, public_key=public_key,
            issuer_public_key=issuer_public, serial=x509.random_serial_number(),
            not_before=now - profiles.BACKDATE, not_after=not_after)
        builder = profiles.authority_extensions(builder, spec, self.settings.public_url,
                                                self.settings.policy_oid)
        der = sign_certificate(builder, self.keystore, issuer_key_ref, issuer_public)
        try:
            return await self._store(der, kind=spec.kind, name=spec.name, issuer=issuer_row,
                                     key_ref=key_ref)
        except IntegrityError:
            # Another process created it first: use theirs and drop our key.
            await shared_keys.remove(self.keystore, key_ref)
            return await Certificate.get(name=spec.name)

    async def _store(self, der: bytes, *, kind: str, key_ref: str, issuer: Certificate | None,
                     name: str | None = None, person=None, cabinet=None) -> Certificate:
        cert = x509.load_der_x509_certificate(der)
        return await Certificate.create(
            serial=f"{cert.serial_number:x}", kind=kind, name=name,
            subject=cert.subject.rfc4514_string()[:512], issuer=issuer, person=person,
            cabinet=cabinet, der=der, key_ref=key_ref, not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc, created_at=clock.now())

    def _publish_tsa_identity(self) -> None:
        """Writes what a worker process needs to run the embedded TSA from settings alone."""
        tsa = self.authorities[profiles.TSA]
        data = json.dumps({
            "cert": base64.b64encode(tsa.der).decode(),
            "chain": [base64.b64encode(self.authorities[profiles.ROOT].der).decode()],
            "key_ref": tsa.row.key_ref,
            "keystore": self.keystore.kind,
        }).encode()
        path = self.settings.home / "keys" / TSA_IDENTITY_FILE
        if not path.exists() or path.read_bytes() != data:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            tmp.replace(path)

    # --- the root --------------------------------------------------------------------

    def root_pem(self) -> str:
        return self.authorities[profiles.ROOT].cert.public_bytes(
            serialization.Encoding.PEM).decode()

    def trust_roots(self) -> list[asn1_x509.Certificate]:
        return [self.authorities[profiles.ROOT].asn1]

    def authority(self, name: str) -> Authority:
        """A platform certificate by its URL name; raises CertificateNotFoundError."""
        try:
            return self.authorities[name]
        except KeyError:
            raise CertificateNotFoundError(f"no platform certificate named {name!r}") from None

    def tsa_identity(self) -> TsaIdentity:
        """The embedded TSA, signing with the keystore of this process."""
        if self._tsa is None:
            tsa = self.authorities[profiles.TSA]
            self._tsa = TsaIdentity(
                cert=tsa.asn1, chain=(self.authorities[profiles.ROOT].asn1,),
                sign=lambda data: self.keystore.sign(tsa.row.key_ref, data),
                signature_algorithm=signed_digest_algorithm(tsa.cert.public_key()),
                now=clock.now)
        return self._tsa

    # --- issuing ---------------------------------------------------------------------

    async def _issue(self, *, kind: str, ca_name: str, subject: x509.Name, lifetime: timedelta,
                     email: str | None = None, person=None, cabinet=None) -> Certificate:
        ca = self.authorities[ca_name]
        serial = x509.random_serial_number()
        key_ref = f"{kind.replace('_', '-')}-{serial:x}"
        public_key = self.keystore.generate(key_ref, KEY_KIND)
        await shared_keys.share(self.keystore, key_ref)
        await shared_keys.fetch(self.keystore, ca.row.key_ref)
        now = _now()
        not_after = min(now + lifetime, ca.row.not_after.replace(microsecond=0))
        builder = profiles.base_builder(
            subject=subject, issuer=ca.cert.subject, public_key=public_key,
            issuer_public_key=ca.cert.public_key(), serial=serial,
            not_before=now - profiles.BACKDATE, not_after=not_after)
        builder = profiles.end_entity_extensions(
            builder, public_url=self.settings.public_url, ca_name=ca_name, kind=kind,
            policy_base=self.settings.policy_oid, email=email)
        der = sign_certificate(builder, self.keystore, ca.row.key_ref, ca.cert.public_key())
        return await self._store(der, kind=kind, key_ref=key_ref, issuer=ca.row, person=person,
                                 cabinet=cabinet)

    async def issue_seal_certificate(self, cabinet) -> Certificate:
        """A new seal certificate for a cabinet (O/CN = its name, NTRFR-<SIREN>).

        Raises CabinetSirenMissingError.
        """
        _require_siren(cabinet)
        return await self._issue(
            kind="seal", ca_name=profiles.SEAL_CA, cabinet=cabinet,
            subject=profiles.seal_subject(cabinet.name, cabinet.siren),
            lifetime=profiles.SEAL_LIFETIME)

    async def seal_certificate_for(self, cabinet) -> Certificate:
        """The cabinet's current seal certificate, issued on demand when there is none valid
        (none yet, revoked, expiring within 30 days, or naming an old name or SIREN).

        Raises CabinetSirenMissingError: EN 319 412-3 wants a legal person's seal to carry
        its organizationIdentifier, and a cabinet's is its SIREN.
        """
        _require_siren(cabinet)
        return await self._current_seal(cabinet, cabinet.name, cabinet.siren)

    async def platform_seal_certificate(self, name: str) -> Certificate:
        """The platform's own seal (O/CN `name`, organizationIdentifier from
        PARAPHE_PLATFORM_SIREN, no cabinet), which seals what the platform itself issues
        (evidence reports); issued on first need, renewed like a cabinet's.

        Without PARAPHE_PLATFORM_SIREN (a test or demo deployment) it names no
        organizationIdentifier rather than stop evidence reports; `paraphe serve` warns.
        """
        return await self._current_seal(None, name, self.settings.platform_siren)

    async def _current_seal(self, cabinet, name: str, siren: str | None) -> Certificate:
        subject = profiles.seal_subject(name, siren)
        cabinet_id = cabinet.id if cabinet is not None else None

        subject_text = subject.rfc4514_string()[:512]

        def current():
            return Certificate.filter(
                kind="seal", cabinet_id=cabinet_id, revoked_at=None, subject=subject_text,
                not_after__gt=clock.now() + RENEW_BEFORE).order_by("-not_after").first()

        # Every seal comes here: the usual case (a valid certificate, cached until a
        # certificate row changes) takes no query and no lock.
        key = (cabinet_id, subject_text)
        found = _SEAL_CERTIFICATES.get(key)
        if found is not caches.MISS and found is not None \
                and found.not_after > clock.now() + RENEW_BEFORE:
            return found
        # "None yet" is never kept: the caller that finds none issues one, and the others,
        # which waited for it, must look again.
        if (found := await _SEAL_CERTIFICATES.load(key, current, keep_none=False)) is not None:
            return found
        async with self._issue_locks.setdefault(("seal", cabinet_id), asyncio.Lock()):
            if (found := await current()) is not None:  # Issued while this one waited.
                return found
            return await self._issue(kind="seal", ca_name=profiles.SEAL_CA, cabinet=cabinet,
                                     subject=subject, lifetime=profiles.SEAL_LIFETIME)

    async def seal_key_for(self, cabinet) -> tuple[Certificate, SigningKeyRef]:
        """The cabinet's current seal certificate and what a worker needs to seal with it,
        from the one row `seal_certificate_for` read (valid, not revoked, with its key)."""
        cert = await self.seal_certificate_for(cabinet)
        await shared_keys.fetch(self.keystore, cert.key_ref)
        return cert, self._key_of(cert)

    async def issue_personal_certificate(self, person, organization: str | None = None
                                         ) -> Certificate:
        """A new personal signing certificate naming the person (C, givenName, surname, CN;
        the e-mail in subjectAltName) and, when given, the cabinet they sign for (O)."""
        return await self._issue(
            kind="personal", ca_name=profiles.PERSONAL_CA, person=person, email=person.email,
            subject=profiles.person_subject(person.name, organization),
            lifetime=profiles.PERSONAL_LIFETIME)

    async def personal_certificate_for(self, person) -> Certificate:
        """The person's current personal certificate. It is issued only when their
        registration is approved (workflows.registration_review), never on demand here.

        Raises PersonalCertificateMissingError (none, or expired) or
        PersonalCertificateRevokedError (the latest one is revoked).
        """
        latest = await Certificate.filter(kind="personal", person_id=person.id).order_by(
            "-id").first()
        if latest is None or latest.not_after <= clock.now():
            raise PersonalCertificateMissingError(
                "no valid personal certificate: register first (/register)")
        if latest.revoked_at is not None:
            raise PersonalCertificateRevokedError(
                "the personal certificate is revoked: register again (/register)")
        return latest

    async def issue_one_time_certificate(self, name: str, email: str) -> Certificate:
        """A certificate for one external signature, naming the signer; valid two days
        (profiles.ONE_TIME_LIFETIME, longer than the revocation data added for it)."""
        return await self._issue(
            kind="one_time", ca_name=profiles.ONE_TIME_CA, email=email,
            subject=profiles.person_subject(name), lifetime=profiles.ONE_TIME_LIFETIME)

    async def revoke(self, cert: Certificate, reason: str = "unspecified") -> Certificate:
        """Revokes at once (CRL and OCSP show it on the next request).

        Raises RevocationReasonInvalidError, CertificateNotFoundError, or
        CertificateRevokedError when it already is revoked.
        """
        reason = crl_mod.normalize_reason(reason)
        now = clock.now()
        updated = await Certificate.filter(id=cert.id, revoked_at=None).update(
            revoked_at=now, revocation_reason=reason)
        if not updated:
            if not await Certificate.exists(id=cert.id):
                raise CertificateNotFoundError("no such certificate")
            raise CertificateRevokedError("the certificate is already revoked")
        cert.revoked_at, cert.revocation_reason = now, reason
        self._crl_cache.clear()
        self._ocsp_cache.clear()
        return cert

    # --- signing ---------------------------------------------------------------------

    def chain_of(self, cert_der: bytes) -> list[Authority]:
        """The platform authorities above a certificate, closest first; raises
        CertificateNotFoundError when no platform CA issued it."""
        issuer = asn1_x509.Certificate.load(cert_der).issuer
        # Found once per issuer: comparing names the RFC 5280 way costs a millisecond a chain.
        chain = self._chains.get(name := issuer.dump())
        if chain is None:
            chain = self._chains[name] = tuple(self._chain_above(issuer))
        return list(chain)

    def _chain_above(self, issuer: asn1_x509.Name) -> list[Authority]:
        chain: list[Authority] = []
        while True:
            parent = next((a for a in self.authorities.values()
                           if a.spec.kind in ("root", "issuing") and a.asn1.subject == issuer),
                          None)
            if parent is None:
                raise CertificateNotFoundError("this certificate was not issued by the platform")
            chain.append(parent)
            if parent.spec.parent is None:
                return chain
            issuer = parent.asn1.issuer

    async def signing_key(self, cert: Certificate) -> SigningKeyRef:
        """What a worker needs to sign with ``cert``.

        Raises CertificateRevokedError, CertificateMissingError (expired, or no key here).
        """
        row = await Certificate.get_or_none(id=cert.id)
        if row is None:
            raise CertificateNotFoundError("no such certificate")
        await shared_keys.fetch(self.keystore, row.key_ref)
        return self._key_of(row)

    def _key_of(self, row: Certificate) -> SigningKeyRef:
        if row.revoked_at is not None:
            raise CertificateRevokedError("the certificate is revoked")
        if row.not_after <= clock.now() or not row.key_ref:
            raise CertificateMissingError("the certificate has expired or has no private key")
        der = bytes(row.der)
        return SigningKeyRef(cert_der=der,
                             chain_ders=tuple(a.der for a in self.chain_of(der)),
                             key_ref=row.key_ref, keystore=self.keystore.kind)

    # --- revocation data ---------------------------------------------------------------

    async def crl(self, name: str) -> bytes:
        """The current DER CRL of a CA (root or issuing); raises CertificateNotFoundError."""
        ca = self.authority(name)
        if ca.spec.kind not in ("root", "issuing"):
            raise CertificateNotFoundError(f"{name!r} is not a CA and publishes no CRL")
        return await self._crl_of(ca, (await self._revocations([ca]))[ca.row.id])

    @staticmethod
    async def _revocations(cas: list[Authority]) -> dict[int, dict[str, tuple]]:
        """For each CA (by row id), what it revoked: serial -> (revoked_at, reason).

        Cached until a certificate row changes (a revocation is an UPDATE of one), so a
        revocation made here shows in the next bundle, one made elsewhere within
        caches.TTL; callers do not modify the result."""
        ids = tuple(sorted({ca.row.id for ca in cas}))

        async def read() -> dict[int, dict[str, tuple]]:
            found: dict[int, dict[str, tuple]] = {ca_id: {} for ca_id in ids}
            rows = await Certificate.filter(
                issuer_id__in=list(ids), revoked_at__isnull=False).values_list(
                "issuer_id", "serial", "revoked_at", "revocation_reason")
            for issuer_id, serial, at, reason in rows:
                found[issuer_id][serial] = (at, reason)
            return found

        return await _REVOCATIONS.load(ids, read)

    async def _crl_of(self, ca: Authority, revocations: dict[str, tuple]) -> bytes:
        name = ca.spec.name
        revoked = tuple(sorted((int(s, 16), at, r) for s, (at, r) in revocations.items()))
        now = _now()
        cached = self._crl_cache.get(name)
        if cached is not None:
            fingerprint, this_update, der = cached
            fresh = this_update <= now < this_update + crl_mod.CRL_VALIDITY / 2
            if fingerprint == revoked and fresh:
                return der
        number = await self._next_crl_number(ca)
        der = crl_mod.build_crl(issuer=ca.cert, keystore=self.keystore, key_ref=ca.row.key_ref,
                                revoked=list(revoked), number=number, this_update=now,
                                next_update=now + crl_mod.CRL_VALIDITY)
        self._crl_cache[name] = (revoked, now, der)
        return der

    async def _next_crl_number(self, ca: Authority) -> int:
        # The UPDATE locks the row until commit, so concurrent issuers get distinct numbers.
        async with in_transaction():
            await Certificate.filter(id=ca.row.id).update(crl_number=F("crl_number") + 1)
            row = await Certificate.get(id=ca.row.id)
        return row.crl_number

    def _responder_for(self, issuer: Authority) -> Authority:
        if issuer.spec.kind == "root":
            return issuer
        responder = self.authorities[profiles.ocsp_responder_name(issuer.spec.name)]
        if responder.row.not_after < clock.now() + ocsp_mod.OCSP_VALIDITY:
            # Renewal has not run in time (no sweep for days): an answer must not outlive
            # its signer's certificate, so the CA signs it itself (RFC 6960 §4.2.2.2).
            return issuer
        return responder

    def _issuer_of_cert_id(self, cert_id) -> Authority | None:
        algorithm = cert_id["hash_algorithm"]["algorithm"].native
        if algorithm not in ("sha1", "sha256"):
            return None
        name_hash, key_hash = cert_id["issuer_name_hash"].native, cert_id["issuer_key_hash"].native
        for authority in self.authorities.values():
            if authority.spec.kind not in ("root", "issuing"):
                continue
            cert = authority.asn1
            if (getattr(cert.subject, algorithm) == name_hash
                    and getattr(cert.public_key, algorithm) == key_hash):
                return authority
        return None

    async def ocsp_response(self, request_der: bytes) -> bytes:
        """Answers a DER OCSP request from the Certificate table (never raises for bad input:
        malformedRequest, unauthorized for another CA's certificates)."""
        try:
            query = ocsp_mod.parse_request(request_der)
        except ocsp_mod.OcspRequestError:
            return ocsp_mod.error_response("malformed_request")
        issuers = {id(a): a for a in map(self._issuer_of_cert_id, query.cert_ids)}
        if len(issuers) != 1 or None in issuers.values():
            # One signer per response: a batch must be about one of our CAs.
            return ocsp_mod.error_response("unauthorized")
        issuer = next(iter(issuers.values()))
        serials = [f"{cid['serial_number'].native:x}" for cid in query.cert_ids]
        rows = {r.serial: r for r in await Certificate.filter(serial__in=serials,
                                                              issuer_id=issuer.row.id)}
        statuses = []
        for cert_id, serial in zip(query.cert_ids, serials, strict=True):
            row = rows.get(serial)
            if row is None:
                statuses.append(ocsp_mod.CertStatus(cert_id, "unknown"))
            elif row.revoked_at is not None:
                statuses.append(ocsp_mod.CertStatus(cert_id, "revoked", row.revoked_at,
                                                    row.revocation_reason))
            else:
                statuses.append(ocsp_mod.CertStatus(cert_id, "good"))
        return self._sign_ocsp(issuer, statuses, query.nonce)

    def _sign_ocsp(self, issuer: Authority, statuses, nonce: bytes | None,
                   validity: timedelta = ocsp_mod.OCSP_VALIDITY,
                   responder: Authority | None = None) -> bytes:
        responder = responder or self._responder_for(issuer)
        try:
            return ocsp_mod.build_response(
                statuses=statuses, responder=responder.asn1,
                sign=lambda data: self.keystore.sign(responder.row.key_ref, data),
                signature_algorithm=signed_digest_algorithm(responder.cert.public_key()),
                now=_now(), nonce=nonce, validity=validity)
        except TrustServiceError:
            return ocsp_mod.error_response("internal_error")

    # --- validation bundles ----------------------------------------------------------------

    async def validation_bundle(self, certs: Iterable[Any], *,
                                after_signing: bool = True) -> ValidationBundle:
        """CRLs and OCSP answers for the chains of ``certs`` and of the TSA, for a DSS.

        ``certs`` are Certificate rows, SigningKeyRefs, DER bytes or asn1crypto certificates
        issued by the platform. With ``after_signing`` the bundle holds, instead of OCSP
        answers, the orders for a signing worker to answer them right after the signature
        (so they postdate its timestamp); else answers are reused while in the first half
        of their validity. Either way what a revocation changes is dropped at once (the
        revocation state is read on every call). Raises CertificateNotFoundError.
        """
        leaves: dict[bytes, None] = {}
        for cert in certs:
            leaves[_der_of(cert)] = None
        leaves[self.authorities[profiles.TSA].der] = None
        members: dict[bytes, Authority | None] = {}  # DER -> its issuer (None for the root)
        for der in leaves:
            chain = self.chain_of(der)
            members.setdefault(der, chain[0])
            for child, parent in zip(chain, chain[1:] + [None], strict=True):
                members.setdefault(child.der, parent)
        # The delegated OCSP responders' certificates need revocation data too: an answer
        # from the CA that certified them (which may sign about its own children).
        delegated: dict[bytes, Authority] = {}
        for issuer in list(members.values()):
            if issuer is not None and (responder := self._responder_for(issuer)) is not issuer:
                delegated[responder.der] = issuer
        for der, issuer in delegated.items():
            members.setdefault(der, issuer)
        issuers = {a.row.id: a for a in members.values() if a is not None}
        # One query gives both each member's revocation state and each CRL's entries.
        revocations = await self._revocations(list(issuers.values()))
        now = _now()
        ocsps, orders = [], []
        for der, issuer in members.items():
            if issuer is None:
                continue
            serial, until = self._member_facts(der)
            state = revocations[issuer.row.id].get(serial, (None, None))
            responder = issuer if der in delegated else self._responder_for(issuer)
            if after_signing:
                orders.append(OcspOrder(
                    cert_der=der, issuer_der=issuer.der, responder_der=responder.der,
                    responder_key_ref=responder.row.key_ref, keystore=self.keystore.kind,
                    validity=ocsp_mod.OCSP_VALIDITY, until=until, revoked_at=state[0],
                    reason=state[1]))
            else:
                validity = max(until - now, ocsp_mod.OCSP_VALIDITY) if until else \
                    ocsp_mod.OCSP_VALIDITY
                ocsps.append(self._cached_ocsp(der, issuer, state, now, validity, responder))
        # Only the root's CRL (it covers the issuing CAs and the TSA; OCSP covers the rest):
        # with the CRLs of two issuing CAs in one file, pyHanko takes each for a possible
        # indirect CRL of the other and fails the whole chain at a later date, offline.
        crls = [await self._crl_of(ca, revocations[ca_id]) for ca_id, ca in issuers.items()
                if ca.spec.kind == "root"]
        return ValidationBundle(certs=tuple(members), crls=tuple(crls),
                                ocsps=tuple(ocsps), orders=tuple(orders))

    def _member_facts(self, der: bytes) -> tuple[str, datetime | None]:
        """(hex serial, fixed nextUpdate of OCSP answers about it, or None), once per
        certificate. A time-stamping unit's answer holds until the unit's certificate
        expires: the newest archive timestamp of a document is checked at the moment of
        validation, offline, years later, against the answer the document carries."""
        facts = self._facts.get(der)
        if facts is None:
            cert = asn1_x509.Certificate.load(der)
            usages = cert.extended_key_usage_value
            tsa = usages is not None and "time_stamping" in usages.native
            facts = self._facts[der] = (f"{cert.serial_number:x}",
                                        cert.not_valid_after if tsa else None)
        return facts

    def _cached_ocsp(self, der: bytes, issuer: Authority, state, now: datetime,
                     validity, responder: Authority) -> bytes:
        revoked_at, reason = state
        key = f"{hashlib.sha256(der).hexdigest()}:{revoked_at}"
        cached = self._ocsp_cache.get(key)
        if cached is not None and cached[0] <= now < cached[0] + ocsp_mod.OCSP_VALIDITY / 2:
            return cached[1]
        cert_id = ocsp_mod.cert_id_for(asn1_x509.Certificate.load(der), issuer.asn1)
        status = (ocsp_mod.CertStatus(cert_id, "revoked", revoked_at, reason)
                  if revoked_at is not None else ocsp_mod.CertStatus(cert_id, "good"))
        response = self._sign_ocsp(issuer, [status], None, validity, responder)
        self._ocsp_cache[key] = (now, response)
        return response


def _require_siren(cabinet) -> None:
    if not cabinet.siren:
        raise CabinetSirenMissingError(
            f"cabinet {cabinet.slug!r} has no SIREN, which its seal must name: give it with "
            f"`paraphe cabinet siren {cabinet.slug} SIREN` (or its expert, at registration)",
            cabinet=cabinet.slug)


def _der_of(cert: Any) -> bytes:
    if isinstance(cert, Certificate):
        return bytes(cert.der)
    if isinstance(cert, SigningKeyRef):
        return cert.cert_der
    if isinstance(cert, asn1_x509.Certificate):
        return cert.dump()
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(serialization.Encoding.DER)
    if isinstance(cert, (bytes, bytearray, memoryview)):
        return bytes(cert)
    raise TypeError(f"not a certificate: {type(cert).__name__}")
