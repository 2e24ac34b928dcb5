"""Validation report of every signature in a PDF: who, when, PAdES level, intact, trusted,
revoked, and what changed after it.

Signatures are judged at the time of their signature timestamp (when it is valid), with
the revocation data embedded in the document (DSS) and any the caller adds; nothing is
fetched over the network. Each signature also gets the verdict of the ETSI EN 319 102-1
validation process (pyHanko's AdES process, on the file alone: whether it validates
offline), and the report says until when the newest archive timestamp holds.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from collections.abc import Iterable

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    SignatureCoverageLevel,
    ades,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

from workflows import clock
from workflows.errors import DocumentBrokenError
from workflows.pdf.intake import open_reader

COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "part of the file",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
CHANGES = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "validation data and timestamps only",
    ModificationLevel.FORM_FILLING: "more signatures or form filling",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other changes to the content",
}
# Changes after a signature that leave it standing: what PAdES and ISO 32000 allow.
ACCEPTABLE = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES,
              ModificationLevel.FORM_FILLING)


async def verify_pdf(data: bytes, *, trust_roots: Iterable, revocation_mode: str = "hard-fail",
                     extra_crls: Iterable[bytes] = (), extra_ocsps: Iterable[bytes] = ()
                     ) -> dict[str, Any]:
    """A report on every signature and document timestamp of `data`.

    `trust_roots` are asn1crypto certificates (the platform root); `extra_crls` and
    `extra_ocsps` (DER) add revocation data to what the file embeds, e.g. the platform's
    current answers. `ok` is true only when there is at least one signature and every
    one is intact, trusted, not revoked and followed by acceptable changes only.
    Runs in a worker thread so the event loop keeps answering.
    Raises DocumentBrokenError when the file cannot be read as a PDF.
    """
    roots = list(trust_roots)
    crls = [asn1_crl.CertificateList.load(d) for d in extra_crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(d) for d in extra_ocsps]
    return await asyncio.to_thread(_verify_in_thread, data, roots, revocation_mode, crls, ocsps)


def _verify_in_thread(data, roots, revocation_mode, crls, ocsps) -> dict[str, Any]:
    # The thread has its own loop; pyHanko's async validation runs on it.
    return asyncio.run(_verify(data, roots, revocation_mode, crls, ocsps))


async def _verify(data, roots, revocation_mode, crls, ocsps) -> dict[str, Any]:
    try:
        reader = open_reader(data, strict=False)
        signatures = list(reader.embedded_signatures)
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            dss = None
    except Exception as exc:  # Untrusted bytes: any parse failure means "broken".
        raise DocumentBrokenError(f"the PDF cannot be read ({type(exc).__name__})") from None

    def context(moment: datetime | None, mode: str, *, dss_only: bool = False):
        kwargs = {"trust_roots": roots, "allow_fetching": False, "revocation_mode": mode,
                  "moment": moment, "retroactive_revinfo": True,
                  "crls": [] if dss_only else list(crls),
                  "ocsps": [] if dss_only else list(ocsps)}
        if dss is not None:
            return dss.as_validation_context(kwargs)
        return ValidationContext(**kwargs)

    entries = []
    for sig in signatures:
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                entries.append(await _check_timestamp(sig, context))
            else:
                entries.append(await _check_signature(sig, context, revocation_mode))
        except Exception as exc:  # A malformed signature is reported, not fatal.
            entries.append({"field": _field_name(sig), "type": "signature", "intact": False,
                            "trusted": False, "ok": False, "revocation": "unknown",
                            "problems": [f"cannot be checked ({type(exc).__name__})"]})
        entries[-1]["revision"] = sig.signed_revision
    _assign_levels(entries)
    regular = [e for e in entries if e["type"] == "signature"]
    for sig, entry in zip(signatures, entries, strict=True):
        if entry["type"] == "signature":
            entry.update(await _ades(sig, roots))
    return {"ok": bool(regular) and all(e["ok"] for e in entries),
            "signatures": entries, "revisions": reader.xrefs.total_revisions,
            "size": len(data), "archive_until": _archive_until(signatures)}


def _field_name(sig) -> str | None:
    try:
        return sig.field_name
    except Exception:
        return None


def _tst_time(sig) -> datetime | None:
    for tst in extract_tst_data_iter(sig.signer_info, signed=False):
        return tst["encap_content_info"]["content"].parsed["gen_time"].native
    return None


def _who(cert) -> dict[str, Any]:
    subject = cert.subject.native
    return {"signer": subject.get("common_name") or cert.subject.human_friendly,
            "subject": cert.subject.human_friendly,
            "serial": f"{cert.serial_number:x}",
            "organization": subject.get("organization_name")}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _changes(status) -> tuple[str, bool]:
    level = status.modification_level
    if level is None:
        return "unknown", False
    description = CHANGES.get(level, level.name.lower())
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        description = "none"
    return description, level in ACCEPTABLE and status.docmdp_ok is not False


async def _check_signature(sig, context, revocation_mode: str) -> dict[str, Any]:
    tst_time = _tst_time(sig)
    moment = tst_time or clock.now()
    status = await async_validate_pdf_signature(sig, context(moment, revocation_mode))
    ts_ok = bool(status.timestamp_validity and status.timestamp_validity.intact
                 and status.timestamp_validity.valid and status.timestamp_validity.trusted)
    if tst_time and not ts_ok:
        # A timestamp that does not hold cannot vouch for the time: judge as of now.
        tst_time, moment = None, clock.now()
        status = await async_validate_pdf_signature(sig, context(moment, revocation_mode))
    trusted, revocation = status.trusted, "good"
    if status.revoked:
        revocation, trusted = "revoked", False
    elif not trusted and status.intact and status.valid:
        # Maybe only the revocation data is missing: tell "unknown" from "untrusted".
        soft = await async_validate_pdf_signature(sig, context(moment, "soft-fail"))
        trusted, revocation = soft.trusted, "unknown"
    elif not trusted:
        revocation = "unknown"
    # B-LT needs the validation data in the file itself, the signer's and the TSA's.
    embedded_lt = False
    if ts_ok and trusted and revocation == "good":
        dss_status = await async_validate_pdf_signature(
            sig, context(moment, "hard-fail", dss_only=True))
        embedded_lt = dss_status.trusted and bool(
            dss_status.timestamp_validity and dss_status.timestamp_validity.trusted)
    changes, acceptable = _changes(status)
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed after signing")
    elif not status.valid:
        problems.append("the signature value does not match")
    if status.intact and status.valid and not trusted:
        problems.append("the certificate does not chain to the trusted root")
    if revocation == "revoked":
        details = status.revocation_details
        problems.append("the certificate was revoked"
                        + (f" on {details.revocation_date.isoformat()}" if details else ""))
    if not acceptable:
        problems.append(f"changed after signing: {changes}")
    is_pades = sig.sig_object.get("/SubFilter") == "/ETSI.CAdES.detached"
    entry = {
        "field": _field_name(sig), "type": "signature", **_who(sig.signer_cert),
        "signing_time": _iso(status.signer_reported_dt),
        "timestamp_time": _iso(tst_time) if ts_ok else None,
        "intact": bool(status.intact and status.valid), "trusted": bool(trusted),
        "revocation": revocation,
        "coverage": COVERAGE.get(status.coverage, "unclear"), "changes_after": changes,
        "reason": _text(sig.sig_object.get("/Reason")),
        "_pades": is_pades, "_ts": ts_ok, "_lt": embedded_lt,
        "problems": problems,
    }
    entry["ok"] = entry["intact"] and entry["trusted"] and revocation != "revoked" and acceptable
    return entry


async def _check_timestamp(sig, context) -> dict[str, Any]:
    moment = _tst_time(sig)
    status = await async_validate_pdf_timestamp(sig, context(moment, "soft-fail"))
    changes, acceptable = _changes(status)
    intact = bool(status.intact and status.valid)
    problems = []
    if not intact:
        problems.append("the timestamped bytes were changed")
    elif not status.trusted:
        problems.append("the time-stamping authority does not chain to the trusted root")
    if not acceptable:
        problems.append(f"changed after the timestamp: {changes}")
    return {"field": _field_name(sig), "type": "document_timestamp", **_who(sig.signer_cert),
            "timestamp_time": _iso(status.timestamp), "intact": intact,
            "trusted": bool(status.trusted), "revocation": None, "level": None,
            "coverage": COVERAGE.get(status.coverage, "unclear"), "changes_after": changes,
            "problems": problems, "ok": intact and bool(status.trusted) and acceptable}


def _text(value) -> str | None:
    return str(value) if value is not None else None


def _assign_levels(entries: list[dict[str, Any]]) -> None:
    """PAdES baseline level of each signature: B-B, B-T, B-LT, or B-LTA when a valid
    document timestamp in a later revision covers its validation data."""
    for entry in entries:
        if entry["type"] != "signature":
            continue
        pades, ts, lt = entry.pop("_pades", False), entry.pop("_ts", False), entry.pop("_lt", False)
        if not pades:
            entry["level"] = None
            continue
        level = "B-B"
        if ts:
            level = "B-T"
            if lt:
                level = "B-LT"
                if any(e["type"] == "document_timestamp" and e["ok"]
                       and e["revision"] > entry["revision"] for e in entries):
                    level = "B-LTA"
        entry["level"] = level


async def _ades(sig, roots) -> dict[str, Any]:
    """The EN 319 102-1 verdict on `sig` with the file's own validation data and nothing
    fetched: {"ades": PASSED | INDETERMINATE | FAILED, "ades_sub_indication": …,
    "offline": whether it passed so}."""
    spec = PdfSignatureValidationSpec(signature_validation_spec=SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=list(roots)),
            revinfo_policy=CertRevTrustPolicy(
                REQUIRE_REVINFO, freshness=None,
                freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION)),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
    now = clock.now()
    try:
        result = await ades.ades_lta_validation(
            sig, spec, timing_info=ValidationTimingInfo(now, now, False))
    except Exception as exc:  # A malformed signature: reported, not fatal.
        return {"ades": "INDETERMINATE", "ades_sub_indication": type(exc).__name__,
                "offline": False}
    indication = result.ades_subindic
    passed = indication.status.name == "PASSED"
    return {"ades": indication.status.name,
            "ades_sub_indication": None if passed else indication.name, "offline": passed}


def _archive_until(signatures) -> str | None:
    """When the newest document timestamp's TSA certificate expires (ISO 8601): until
    then the archive timestamps hold; None without any."""
    stamps = [s for s in signatures if s.sig_object_type == "/DocTimeStamp"]
    if not stamps:
        return None
    try:
        return stamps[-1].signer_cert.not_valid_after.isoformat()
    except Exception:  # A malformed timestamp holds nothing.
        return None
