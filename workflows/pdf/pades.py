"""PAdES signatures and document timestamps with pyHanko's async API, validation data in the DSS.

A signature is made B-T (signature + signature timestamp) in one incremental revision;
its validation data (certificates, CRLs and OCSP answers of the signer's and the TSA's
chains, with a VRI entry for the signature; workflows.pdf.dss) follows in the next revision,
gathered after the timestamp as EN 319 142-1 asks: alone for B-LT, or together with a
document timestamp over it for B-LTA. Nothing is fetched over the network.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from typing import IO

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper, Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.general import SigningError

from workflows import clock
from workflows.pdf import dss
from workflows.pdf import stamp as stamps
from workflows.pdf.intake import DECODE_LIMITS

MD = "sha256"
# Room for the CMS apart from certificates: signature, signed attributes, the
# timestamp token's own structure and signature. Generous: unused bytes are zeros.
CMS_OVERHEAD = 6 * 1024
# Read size when hashing a file: few system calls for a 10 MB document.
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ValidationMaterial:
    """DER blobs to put in the DSS: the chains' certificates, CRLs and OCSP responses."""

    certs: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()
    orders: tuple = ()  # workflows.trust.refs.OcspOrder: answered after the signature
    _parsed: dict = field(default_factory=dict, compare=False, repr=False)

    def parsed(self):
        """asn1crypto objects, parsed once per process."""
        if not self._parsed:
            self._parsed["certs"] = [asn1_x509.Certificate.load(d) for d in self.certs]
            self._parsed["crls"] = [asn1_crl.CertificateList.load(d) for d in self.crls]
            self._parsed["ocsps"] = [asn1_ocsp.OCSPResponse.load(d) for d in self.ocsps]
        return self._parsed["certs"], self._parsed["crls"], self._parsed["ocsps"]

    def __getstate__(self):  # The parsed cache is rebuilt in each process.
        return {"certs": self.certs, "crls": self.crls, "ocsps": self.ocsps,
                "orders": self.orders}

    def __setstate__(self, state):
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_parsed", {})


def bytes_to_reserve(cert_ders: list[bytes]) -> int:
    """Fixed room for the signature container (hex, so twice the DER), sized once per key.

    `cert_ders` are every certificate the CMS will carry: the signer's chain and the
    TSA's chain inside the timestamp token.
    """
    der = sum(len(d) for d in cert_ders) + CMS_OVERHEAD
    return 2 * (((der + 1023) // 1024) * 1024)


def _supply_dss(writer: IncrementalPdfFileWriter, material: ValidationMaterial,
                extra_ocsps=(), sig_contents: bytes | None = None) -> bool:
    certs, crls, ocsps = material.parsed()
    ocsps = [*ocsps, *extra_ocsps]
    return dss.append(writer, certs=certs, ocsps=ocsps, crls=crls, sig_contents=sig_contents)


def _writer(pdf: IO[bytes], strict: bool) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(pdf, strict=strict, decode_limits=DECODE_LIMITS)


def as_stream(data: bytes) -> io.BytesIO:
    """A read/write stream over a copy of `data`, for signing bytes in memory."""
    return io.BytesIO(data)


async def sign_pdf(pdf: IO[bytes], *, signer: Signer, timestamper: TimeStamper,
                   bytes_reserved: int, reason: str | None = None,
                   location: str | None = None, name: str | None = None,
                   stamp: stamps.StampSpec | None = None, field_name: str | None = None,
                   page_count: int | None = None, strict: bool = True) -> bytes:
    """Appends a PAdES B-T signature to the PDF in `pdf` (a seekable read/write stream,
    e.g. a file opened "r+b"), in place, as an incremental update; returns the
    signature's /Contents (for its VRI entry).

    Signing in place keeps a 10 MB file from being copied again and again in memory.

    Raises pyHanko's SigningError (e.g. a certification signature forbids changes, or
    the container outgrew `bytes_reserved`) and PdfError for unreadable input.
    """
    writer = _writer(pdf, strict)
    field_name = field_name or f"Signature-{uuid.uuid4().hex[:12]}"
    if page_count is None:
        page_count = int(writer.root["/Pages"]["/Count"])
    meta = PdfSignatureMetadata(field_name=field_name, md_algorithm=MD, reason=reason,
                                location=location, name=name, subfilter=SigSeedSubFilter.PADES)
    pdf_signer = PdfSigner(meta, signer=signer, timestamper=timestamper,
                           stamp_style=stamps.stamp_style(stamp) if stamp else None,
                           new_field_spec=stamps.field_spec(stamp, field_name, page_count))
    session = pdf_signer.init_signing_session(writer)
    # pyHanko stamps the signature dictionary with this time; ours comes from the one clock.
    session.system_time = clock.now()
    tbs = session.prepare_tbs_document(
        validation_info=None, bytes_reserved=bytes_reserved,
        appearance_text_params=stamps.text_params(stamp, signer=name or signer.subject_name,
                                                  reason=reason))
    prepared, output = tbs.digest_tbs_document(in_place=True, chunk_size=CHUNK)
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=session.system_time))
    await post.post_signature_processing(output, chunk_size=CHUNK)
    return post.sig_contents


def add_validation_data(pdf: IO[bytes], *, material: ValidationMaterial, extra_ocsps=(),
                        sig_contents: bytes | None = None, strict: bool = True) -> None:
    """Appends a DSS update (PAdES B-LT after a B-T signature) in place in `pdf`, with a
    VRI entry for the signature whose /Contents are `sig_contents` when given."""
    writer = _writer(pdf, strict)
    if _supply_dss(writer, material, extra_ocsps, sig_contents):
        writer.write_in_place()


async def timestamp_pdf(pdf: IO[bytes], *, timestamper: TimeStamper,
                        material: ValidationMaterial, bytes_reserved: int, extra_ocsps=(),
                        sig_contents: bytes | None = None, field_name: str | None = None,
                        strict: bool = True) -> None:
    """Appends a DSS update and a document timestamp over it (PAdES B-LTA) in one revision,
    in place in `pdf` (a seekable read/write stream). `extra_ocsps` (asn1crypto) join the
    material; `sig_contents` names the signature the data is for (VRI).

    Raises pyHanko's SigningError and PdfError.
    """
    writer = _writer(pdf, strict)
    _supply_dss(writer, material, extra_ocsps, sig_contents)
    stamper = PdfTimeStamper(timestamper,
                             field_name=field_name or f"Timestamp-{uuid.uuid4().hex[:12]}")
    await stamper.async_timestamp_pdf(writer, MD, bytes_reserved=bytes_reserved, in_place=True,
                                      chunk_size=CHUNK)


__all__ = ["ValidationMaterial", "add_validation_data", "as_stream", "bytes_to_reserve",
           "sign_pdf", "timestamp_pdf",
           "SigningError", "MD"]
