"""Helpers of the trust tests: a PAdES B-LT seal with the trust service's data, checked."""

from __future__ import annotations

import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from workflows.trust.signers import load_signer, load_timestamper


def validation_context(trust_roots, bundle) -> ValidationContext:
    """Revocation required, nothing fetched: only the bundle's CRLs and OCSP answers."""
    return ValidationContext(trust_roots=list(trust_roots), other_certs=bundle.asn1_certs,
                             crls=bundle.asn1_crls, ocsps=bundle.asn1_ocsps,
                             allow_fetching=False, revocation_mode="require")


async def sign_blt(settings, key, bundle, pdf: bytes, trust_roots) -> bytes:
    """A B-LT signature: timestamp from the configured TSA, the bundle in the DSS."""
    meta = signers.PdfSignatureMetadata(
        field_name="Seal", subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=True, validation_context=validation_context(trust_roots, bundle))
    out = io.BytesIO()
    await signers.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta,
                                 signer=load_signer(settings, key),
                                 timestamper=load_timestamper(settings), output=out)
    return out.getvalue()


async def assert_trusted_blt(trust, bundle, signed: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(signed))
    status = await async_validate_pdf_signature(
        reader.embedded_signatures[0],
        signer_validation_context=validation_context(trust.trust_roots(), bundle))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    dss = reader.root["/DSS"]
    assert len(dss["/OCSPs"]) >= 2 and len(dss["/CRLs"]) >= 1
