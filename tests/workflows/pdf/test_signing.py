"""PAdES sealing through the engine, checked by pdfsig, pyHanko and qpdf."""

from __future__ import annotations

import asyncio
import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

from tests.pdfs import make_pdf
from tests.validators import assert_pdfsig_trusts, pdfsig_report, qpdf_check
from workflows import clock
from workflows.models import Cabinet
from workflows.pdf.intake import check_pdf
from workflows.pdf.stamp import StampSpec
from workflows.pdf.verify import verify_pdf


async def seal_once(engine, seal, data: bytes, **kw) -> bytes:
    _, key, bundle = seal
    return await engine.sign(data, key, reason="Cachet du cabinet", name="Cabinet Dupré",
                             bundle=bundle, **kw)


def signatures_only(report: dict) -> list[dict]:
    """The report's signatures, without the document timestamps."""
    return [s for s in report["signatures"] if s["type"] == "signature"]


async def check_with_everyone(trust, tmp_path, data: bytes, signatures: int) -> dict:
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    assert_pdfsig_trusts(await pdfsig_report(path, trust.root_pem()), signatures)
    await qpdf_check(path)
    report = await verify_pdf(data, trust_roots=trust.trust_roots())
    assert report["ok"], report
    return report


async def test_a_seal_is_b_lta_and_every_validator_agrees(trust, engine, seal, tmp_path):
    source = make_pdf()
    signed = await seal_once(engine, seal, source)
    assert signed.startswith(source)  # an incremental update: the original bytes untouched
    report = await check_with_everyone(trust, tmp_path, signed, 1)
    (sig,) = signatures_only(report)
    assert sig["signer"] == "Cabinet Dupré & Associés"
    assert sig["level"] == "B-LTA"
    # The signature, then its validation data with a document timestamp over it.
    assert [s["type"] for s in report["signatures"]] == ["signature", "document_timestamp"]
    assert (sig["intact"], sig["trusted"], sig["revocation"]) == (True, True, "good")
    assert sig["timestamp_time"] and sig["signing_time"]
    assert sig["coverage"] == "entire revision"
    assert sig["changes_after"] == "validation data and timestamps only"
    assert sig["reason"] == "Cachet du cabinet"

    reader = PdfFileReader(io.BytesIO(signed))
    embedded = reader.embedded_signatures[0]
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert find_unique_cms_attribute(embedded.signer_info["signed_attrs"],
                                     "signing_certificate_v2")
    # The DSS carries every certificate, CRL and OCSP answer of both chains, the answers
    # made after the signature's timestamp, with a VRI entry for the signature.
    dss = reader.root["/DSS"]
    _, _, bundle = seal
    assert len(dss["/Certs"]) >= len(bundle.certs) - 1
    assert len(dss["/CRLs"]) == len(bundle.crls) and len(dss["/OCSPs"]) == len(bundle.orders)
    assert len(dss["/VRI"]) == 1
    tst = next(extract_tst_data_iter(embedded.signer_info, signed=False))
    tst_time = tst["encap_content_info"]["content"].parsed["gen_time"].native
    for answer in dss["/OCSPs"]:
        basic = asn1_ocsp.OCSPResponse.load(answer.get_object().data).basic_ocsp_response
        assert basic["tbs_response_data"]["produced_at"].native >= tst_time
    assert check_pdf(signed, "signed.pdf", max_bytes=11 * 1024 * 1024).signatures == 2


async def test_a_second_signature_keeps_the_first_valid_and_lta_timestamps(
        trust, engine, seal, tmp_path):
    # A second signer: pdfsig 22.12 (NSS) reports "Unknown issue" for a second signature
    # by the SAME certificate, whoever made the file (pyHanko's own sign_pdf too).
    other = await Cabinet.create(slug="martin", name="Martin Conseil", siren="732829320",
                                 created_at=clock.now())
    other_cert = await trust.seal_certificate_for(other)
    other_seal = (other_cert, await trust.signing_key(other_cert),
                  await trust.validation_bundle([other_cert]))
    first = await seal_once(engine, seal, make_pdf(pages=2))
    second = await seal_once(engine, other_seal, first)
    assert second.startswith(first)
    report = await check_with_everyone(trust, tmp_path, second, 2)
    assert [s["level"] for s in signatures_only(report)] == ["B-LTA", "B-LTA"]
    assert report["signatures"][0]["changes_after"] == "more signatures or form filling"

    _, _, bundle = seal
    archived = await engine.timestamp(second, bundle)
    assert archived.startswith(second)
    report = await check_with_everyone(trust, tmp_path, archived, 2)
    kinds = [s["type"] for s in report["signatures"]]
    assert kinds == ["signature", "document_timestamp"] * 2 + ["document_timestamp"]
    assert [s["level"] for s in signatures_only(report)] == ["B-LTA", "B-LTA"]
    stamp = report["signatures"][-1]
    assert stamp["intact"] and stamp["trusted"] and stamp["coverage"] == "entire file"


async def test_a_visible_stamp_lands_on_the_given_page_and_box(trust, engine, seal, tmp_path):
    box = (300, 50, 550, 120)
    signed = await seal_once(engine, seal, make_pdf(pages=3), stamp=StampSpec(page=-1, box=box))
    await check_with_everyone(trust, tmp_path, signed, 1)
    reader = PdfFileReader(io.BytesIO(signed))
    field = reader.embedded_signatures[0].sig_field
    assert [round(float(v)) for v in field["/Rect"]] == list(box)
    page = field["/P"]  # the page the widget sits on: the third and last
    assert b"page 3" in page["/Contents"].data
    assert any(annot.get_object()["/T"] == field["/T"] for annot in page["/Annots"])
    appearance = field["/AP"]["/N"].data
    assert b"Tj" in appearance  # the stamp's text is drawn


async def test_stamp_text_is_encoded_as_its_font_declares(trust, engine, seal):
    _, key, bundle = seal
    reason = "Signé par Zoé – collecte 7 (Cabinet Dupré)"
    signed = await engine.sign(make_pdf(), key, reason=reason, name="Zoé Œuvré", bundle=bundle,
                               stamp=StampSpec())
    field = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0].sig_field
    appearance = field["/AP"]["/N"]
    fonts = appearance["/Resources"]["/Font"]
    assert {f.get_object()["/Encoding"] for f in fonts.values()} == {"/WinAnsiEncoding"}
    # Decoded as WinAnsi (Windows-1252), the drawn strings say what was meant: an en dash,
    # not the ellipsis that PDFDocEncoding's 0x85 is in WinAnsi.
    drawn = b"".join(_strings(appearance.data)).decode("cp1252")
    assert reason in drawn and "Zoé Œuvré" in drawn and "…" not in drawn


async def test_a_byte_changed_in_the_signed_range_is_flagged(trust, engine, seal):
    signed = bytearray(await seal_once(engine, seal, make_pdf()))
    at = signed.find(b"Lettre de mission")
    signed[at] = ord("l")
    report = await verify_pdf(bytes(signed), trust_roots=trust.trust_roots())
    assert not report["ok"]
    (sig,) = signatures_only(report)
    assert not sig["intact"]
    assert "the signed bytes were changed after signing" in sig["problems"]


async def test_a_revoked_certificate_shows_revoked(trust, engine, seal):
    cert, key, _ = seal
    await trust.revoke(cert, "key_compromise")
    bundle = await trust.validation_bundle([cert])
    signed = await engine.sign(make_pdf(), key, reason="after revocation", bundle=bundle)
    report = await verify_pdf(signed, trust_roots=trust.trust_roots())
    (sig,) = signatures_only(report)
    assert sig["revocation"] == "revoked" and not sig["trusted"] and not report["ok"]
    assert any("revoked" in p for p in sig["problems"])


async def test_an_untrusted_root_is_not_trusted(trust, engine, seal):
    import datetime as dt

    from asn1crypto import x509 as ax509
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    signed = await seal_once(engine, seal, make_pdf())
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(cx509.NameOID.COMMON_NAME, "Stranger Root")])
    now = dt.datetime.now(dt.UTC)
    root = (cx509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    stranger = ax509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    report = await verify_pdf(signed, trust_roots=[stranger])
    (sig,) = signatures_only(report)
    assert sig["intact"] and not sig["trusted"] and not report["ok"]
    assert "the certificate does not chain to the trusted root" in sig["problems"]
    # EN 319 102-1: no chain to a trust anchor is INDETERMINATE, not FAILED.
    assert sig["ades"] == "INDETERMINATE" and sig["ades_sub_indication"]
    assert sig["offline"] is False


async def test_several_seals_at_once_keep_the_loop_answering(trust, engine, seal):
    source = make_pdf(image_bytes=2 * 1024 * 1024)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(seal_once(engine, seal, source) for _ in range(6)))
    task.cancel()
    assert ticks > 0  # the loop ran other work while the workers signed
    for signed in results:
        report = await verify_pdf(signed, trust_roots=trust.trust_roots())
        assert report["ok"] and report["signatures"][0]["level"] == "B-LTA"


async def test_the_engine_runs_the_intake_before_signing(trust, engine, seal):
    from workflows.errors import DocumentEncryptedError, DocumentNotPdfError, DocumentTooLargeError

    _, key, bundle = seal
    signed = await engine.sign(make_pdf(), key, reason="r", bundle=bundle,
                               intake=("ok.pdf", 10 * 1024 * 1024))
    assert (await verify_pdf(signed, trust_roots=trust.trust_roots()))["ok"]
    for data, error in ((b"not a pdf at all", DocumentNotPdfError),
                        (make_pdf(encrypt_password="x"), DocumentEncryptedError),
                        (make_pdf(pages=40), DocumentTooLargeError)):
        with pytest.raises(error):
            await engine.sign(data, key, reason="r", bundle=bundle, intake=("in.pdf", 5000))


async def test_small_and_large_documents_leave_nothing_in_the_spool(trust, engine, seal):
    from workflows.errors import DocumentBrokenError
    from workflows.pdf.engine import INLINE_BYTES

    _, key, bundle = seal
    small, large = make_pdf(), make_pdf(image_bytes=INLINE_BYTES + 100_000)
    assert len(small) <= INLINE_BYTES < len(large)  # Sent in the job / through a spool file.
    for source in (small, large):
        signed = await seal_once(engine, seal, source)
        assert signed.startswith(source)
        assert (await verify_pdf(signed, trust_roots=trust.trust_roots()))["ok"]
        with pytest.raises(DocumentBrokenError):  # A failed job cleans up too.
            await engine.sign(b"%PDF" + source[4:-200], key, reason="r", bundle=bundle,
                              intake=("broken.pdf", 10 * 1024 * 1024))
    assert list(engine._spool_dir().iterdir()) == []


def test_garbage_a_worker_froze_is_collected_in_time():
    import gc
    import weakref

    from workflows.pdf import engine as engine_mod

    class Node:
        pass

    node = Node()
    node.cycle = node  # Only a full collection frees a cycle.
    ref = weakref.ref(node)
    try:
        engine_mod._settle()  # A job ends while the node is still in use: it is frozen.
        del node
        for _ in range(engine_mod.UNFREEZE_EVERY):
            engine_mod._settle()
        assert ref() is None
    finally:
        gc.unfreeze()  # This process is the test runner, not a worker.


def _strings(content: bytes) -> list[bytes]:
    """The operands of the Tj operators of a content stream (literal or hex strings)."""
    import re

    found = []
    for literal, hexa in re.findall(rb"(?:\(((?:\\.|[^\\)])*)\)|<([0-9A-Fa-f]*)>)\s*Tj",
                                    content):
        if hexa:
            found.append(bytes.fromhex(hexa.decode()))
        else:
            found.append(re.sub(rb"\\(.)", rb"\1", literal))
    return found
