"""Canaries of compat.pyhanko: each override is in effect on the real signing path."""

from __future__ import annotations

import asyncio

import pytest

from compat import pyhanko as compat_pyhanko
from tests.pdfs import make_pdf
from workflows.pdf import engine as engine_mod
from workflows.pdf import pades
from workflows.pdf.engine import SigningEngine
from workflows.collections.signing import stamp_for
from workflows.trust.pades_cms import PadesCms
from workflows.trust.signers import load_signer, load_timestamper


async def test_signing_workers_read_with_the_tuned_reader(trust, pdf_settings, tmp_path):
    """pyhanko.revisions: a worker signing a file twice went through every replacement."""
    engine = SigningEngine(pdf_settings, workers=1)  # one worker: the one asked afterwards
    try:
        current = tmp_path / "v0.pdf"
        current.write_bytes(make_pdf(pages=2))
        for i in (1, 2):
            cert = await trust.issue_one_time_certificate(f"Signataire {i}", f"s{i}@c.test")
            signed, _ = await engine.sign_file(
                current, await trust.signing_key(cert), reason=None, stamp=stamp_for(i),
                bundle=await trust.validation_bundle([cert]), field_name=f"Signataire{i}")
            current = signed
        report = await engine._run(compat_pyhanko.report)
    finally:
        engine.close()
    assert report["patched"] == sorted(name for _, name, _ in compat_pyhanko.PATCHES)
    assert set(report["used"]) >= {"XRefBuilder", "XRefCache", "enumerate_fields_in",
                                   "_check_xref_consistency"}
    assert report["sections"] > 0 and report["objects"] > 0  # the builder's, the reader's


@pytest.fixture
async def signing(pdf_settings, seal):
    _cert, key, _bundle = seal
    reserve = pades.bytes_to_reserve([key.cert_der, *key.chain_ders,
                                      bytes(engine_mod.TSA_CHAIN_ALLOWANCE)])
    return load_signer(pdf_settings, key), load_timestamper(pdf_settings), reserve


async def test_a_seal_assembles_its_cms_from_der_pieces(signing, monkeypatch):
    """pyhanko.pades_cms: pyHanko's PdfSigner asks our signer for a CMS we assemble."""
    signer, timestamper, reserve = signing
    assembled = []
    original = PadesCms.content_info

    def content_info(self, *args):
        assembled.append(self)
        return original(self, *args)

    monkeypatch.setattr(PadesCms, "content_info", content_info)
    await pades.sign_pdf(pades.as_stream(make_pdf()), signer=signer, timestamper=timestamper,
                         bytes_reserved=reserve)
    assert len(assembled) == 1


async def test_a_signature_outgrowing_its_room_is_retried(signing, monkeypatch):
    """pyhanko.byterange_text: pyHanko's SigningError for too small a /Contents is told
    apart from a broken PDF, so the engine retries with more room."""
    signer, timestamper, _reserve = signing
    loop = asyncio.new_event_loop()
    monkeypatch.setitem(engine_mod._state, "loop", loop)

    def too_little_room():
        return pades.sign_pdf(pades.as_stream(make_pdf()), signer=signer,
                              timestamper=timestamper, bytes_reserved=1024)
    try:
        with pytest.raises(engine_mod._ContainerTooSmall):
            await asyncio.to_thread(engine_mod._run_job, too_little_room)
    finally:
        loop.close()
