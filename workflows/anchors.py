"""Evidence anchoring: the chain head sealed with an RFC 3161 timestamp, and the chain checked
against those seals.

The hash chain alone proves nothing against whoever can write the database: events cut
from its tail, or one edited and every hash after it recomputed, leave a chain that holds.
A timestamp token is the TSA's signature over the head's hash at a time; the database can
lose it but cannot make a new one for an older time, and each completed collection's
evidence report carries the head and its token out of the platform.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime

from asn1crypto import cms, tsp  # noqa: F401 - tsp teaches cms to parse TSTInfo
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.validation.generic_cms import (
    extract_certs_for_validation,
    extract_signer_info,
    get_pyca_cryptography_hash,
    validate_sig_integrity,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from tortoise.exceptions import IntegrityError

from workflows import clock, evidence
from workflows.errors import TrustServiceError
from workflows.models import Certificate, EvidenceAnchor, EvidenceEvent, EvidenceHead
from workflows.services import Services
from workflows.trust.signers import load_timestamper


BATCH = 500


def _gen_time(token: cms.ContentInfo) -> datetime:
    return token["content"]["encap_content_info"]["content"].parsed["gen_time"].native


async def _timestamp(svc: Services, digest: bytes) -> cms.ContentInfo:
    """A token over `digest` (SHA-256) from the configured TSA: PARAPHE_TSA_URL when set,
    else the embedded one. Raises TrustServiceError when it gives none."""

    identity = None
    if svc.trust is not None and not svc.settings.tsa_url:
        identity = svc.trust.tsa_identity()
    try:
        return await load_timestamper(svc.settings, identity).async_timestamp(digest, "sha256")
    except TrustServiceError:
        raise
    except Exception as exc:  # pyHanko and aiohttp raise many types for one failure.
        raise TrustServiceError(f"the TSA did not timestamp the evidence head: {exc}") from exc


async def anchor_head(svc: Services) -> EvidenceAnchor | None:
    """Seals the chain head with a timestamp unless it already is; returns the head's
    anchor, or None while the chain is empty. Safe from several instances (one anchor per
    sequence number). Raises TrustServiceError when the TSA does not answer."""
    head = await EvidenceHead.get_or_none(id=evidence.HEAD_ID)
    if head is None or head.seq == 0:
        return None
    if anchor := await EvidenceAnchor.get_or_none(seq=head.seq):
        return anchor
    event = await EvidenceEvent.get_or_none(seq=head.seq)
    if event is None or event.hash != head.hash:
        # A head that disagrees with its event is damage for `audit verify`, not a state to
        # vouch for.
        raise TrustServiceError(f"the evidence head (event {head.seq}) does not match the "
                                f"log; run `paraphe audit verify`")
    token = await _timestamp(svc, bytes.fromhex(head.hash))
    try:
        return await EvidenceAnchor.create(seq=head.seq, hash=head.hash, token=token.dump(),
                                           stamped_at=_gen_time(token), created_at=clock.now())
    except IntegrityError:  # Another instance anchored the same head first.
        return await EvidenceAnchor.get(seq=head.seq)


async def head_for_report(svc: Services) -> dict:
    """The chain head, anchored now if it was not, as an evidence report names it."""
    anchor = await anchor_head(svc)
    if anchor is None:
        return {"head_seq": 0, "head_hash": evidence.GENESIS, "anchor": None}
    return {"head_seq": anchor.seq, "head_hash": anchor.hash, "anchor": {
        "timestamped_at": anchor.stamped_at.isoformat(),
        "timestamp_token": base64.b64encode(bytes(anchor.token)).decode("ascii"),
        "message_imprint": "sha256 = head_hash"}}


async def platform_roots() -> list[asn1_x509.Certificate]:
    """The platform's root certificates, which every anchor's TSA must chain to."""
    rows = await Certificate.filter(kind="root").order_by("id")
    return [asn1_x509.Certificate.load(bytes(row.der)) for row in rows]


class TokenChecker:
    """Says why a stored token does not vouch for a head hash. A token must be a timestamp
    whose imprint is that SHA-256, signed intact by a TSA chaining to `roots`, judged at the
    token's own time (a TSA certificate may have expired since). The TSA certificate's path
    is validated once; later tokens it signed only have their signature checked (a full
    validation costs 30 ms, and a busy year makes 100,000 anchors)."""

    def __init__(self, roots) -> None:
        self.roots = list(roots)
        self._trusted: set[bytes] = set()  # DER of TSA certificates whose path validated

    async def problem(self, token_der: bytes, digest_hex: str) -> str | None:
        try:
            signed = cms.ContentInfo.load(token_der)["content"]
            tst_info = signed["encap_content_info"]["content"].parsed
            imprint = tst_info["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            hashed = imprint["hashed_message"].native
            moment = tst_info["gen_time"].native
        except Exception:  # asn1crypto raises many types on damaged input.
            return "its timestamp token cannot be read"
        if algorithm != "sha256" or hashed != bytes.fromhex(digest_hex):
            return "its timestamp token is over another hash"
        try:
            if self._known(signed, moment):
                return self._signature_problem(signed)
            return await self._full_problem(signed, moment, hashed)
        except Exception as exc:  # pyHanko's structural and validation errors alike.
            return f"its timestamp token does not verify ({exc})"

    def _known(self, signed, moment: datetime) -> bool:
        cert = extract_certs_for_validation(signed).signer_cert
        validity = cert["tbs_certificate"]["validity"]
        return (cert.dump() in self._trusted and
                validity["not_before"].native <= moment <= validity["not_after"].native)

    @staticmethod
    def _signature_problem(signed) -> str | None:
        signer_info = extract_signer_info(signed)
        content = signed["encap_content_info"]
        md = hashes.Hash(get_pyca_cryptography_hash(
            signer_info["digest_algorithm"]["algorithm"].native))
        md.update(bytes(content["content"]))
        intact, valid = validate_sig_integrity(
            signer_info, extract_certs_for_validation(signed).signer_cert,
            expected_content_type=content["content_type"].native, actual_digest=md.finalize())
        return None if intact and valid else "the signature of its timestamp token does not verify"

    async def _full_problem(self, signed, moment: datetime, hashed: bytes) -> str | None:
        context = ValidationContext(trust_roots=self.roots, allow_fetching=False,
                                    revocation_mode="soft-fail", moment=moment)
        status = TimestampSignatureStatus(**await validate_tst_signed_data(
            signed, context, lambda _algorithm: hashed))
        if not status.intact or not status.valid:
            return "the signature of its timestamp token does not verify"
        if not status.trusted:
            return "its timestamp token is not signed by a TSA of the platform's root"
        self._trusted.add(extract_certs_for_validation(signed).signer_cert.dump())
        return None


async def token_problem(token_der: bytes, digest_hex: str, roots) -> str | None:
    """Why one token does not vouch for `digest_hex`, or None (see TokenChecker)."""
    return await TokenChecker(roots).problem(token_der, digest_hex)


async def verify_chain(roots=None) -> evidence.ChainReport:
    """Walks the hash chain (`evidence.verify_chain`), then checks it against every anchor:
    each token verifies, the event at each anchored sequence number still has the anchored
    hash (else the chain was rewritten and recomputed), and the chain reaches the last
    anchored event (else its tail was cut). The report names the first problem."""
    report = await evidence.verify_chain()
    if not report.ok:
        return report
    checker = TokenChecker(await platform_roots() if roots is None else roots)
    last_seq, count, after = report.events, 0, 0
    while True:
        anchors = await EvidenceAnchor.filter(seq__gt=after).order_by("seq").limit(BATCH)
        if not anchors:
            return replace(report, anchors=count)
        hashes = dict(await EvidenceEvent.filter(seq__in=[a.seq for a in anchors])
                      .values_list("seq", "hash"))
        for anchor in anchors:
            after, count = anchor.seq, count + 1
            when = anchor.stamped_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            if problem := await checker.problem(bytes(anchor.token), anchor.hash):
                return replace(report, ok=False, broken_seq=anchor.seq, anchors=count,
                               reason=f"the anchor of event {anchor.seq}: {problem}")
            if anchor.seq > last_seq:
                return replace(report, ok=False, broken_seq=last_seq + 1, anchors=count,
                               reason=f"tail cut: the chain ends at event {last_seq} but event "
                                      f"{anchor.seq} was timestamped on {when}")
            if hashes.get(anchor.seq) != anchor.hash:
                return replace(report, ok=False, broken_seq=anchor.seq, anchors=count,
                               reason=f"chain rewritten: event {anchor.seq} no longer has the "
                                      f"hash timestamped on {when} (hashes were recomputed)")
