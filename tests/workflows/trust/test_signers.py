"""Signers from a SigningKeyRef: PAdES B-LT that pyHanko trusts, in any process, with pyHanko's
CMS."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from asn1crypto import cms
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper

from tests.pdfs import make_pdf
from tests.workflows.trust.blt import assert_trusted_blt, sign_blt
from workflows import clock
from workflows.trust import signers
from workflows.trust.signers import KeptKeySigner, load_signer, load_timestamper


def _sign_in_worker(settings, key, bundle, trust_root, pdf: bytes) -> bytes:
    return asyncio.run(sign_blt(settings, key, bundle, pdf, [trust_root]))


async def test_software_seal_is_trusted_by_pyhanko(trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row], after_signing=False)
    signer = load_signer(settings, key)
    assert isinstance(signer, KeptKeySigner)
    assert load_signer(settings, key) is signer  # Built once per process.
    signed = await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots())
    await assert_trusted_blt(trust, bundle, signed)


async def test_one_time_signature_is_trusted(trust, settings):
    row = await trust.issue_one_time_certificate("Jean Martin", "jean@client.example")
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([key], after_signing=False)
    signed = await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots())
    await assert_trusted_blt(trust, bundle, signed)


async def test_a_spawned_worker_signs_from_settings_alone(trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row], after_signing=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        signed = await asyncio.get_running_loop().run_in_executor(
            pool, _sign_in_worker, settings, key, bundle, trust.trust_roots()[0], make_pdf())
    await assert_trusted_blt(trust, bundle, signed)


class _FixedTimeStamper(TimeStamper):
    """Answers every request with the same token, so that two CMS can be compared."""

    def __init__(self, token: cms.ContentInfo) -> None:
        super().__init__()
        self.token = token

    async def async_timestamp(self, message_digest, md_algorithm) -> cms.ContentInfo:
        return self.token


async def test_the_assembled_pades_cms_is_the_one_pyhanko_builds(trust, cabinet, settings,
                                                                 monkeypatch):
    key = await trust.signing_key(await trust.seal_certificate_for(cabinet))
    signer = load_signer(settings, key)
    token = await load_timestamper(settings).async_timestamp(bytes(32), "sha256")
    # ECDSA signatures are random: a fixed one makes the two CMS comparable byte for byte.
    monkeypatch.setattr(signers, "sign_with_private_key", lambda _key, data: bytes(70))
    args = {"use_pades": True, "timestamper": _FixedTimeStamper(token),
            "signed_attr_settings": PdfCMSSignedAttributes(signing_time=clock.now())}
    ours = (await signer.async_sign(b"\x01" * 32, "sha256", **args))["content"]
    theirs = (await Signer.async_sign(signer, b"\x01" * 32, "sha256", **args))["content"]
    assert ours["signer_infos"].dump() == theirs["signer_infos"].dump()
    for name in ("version", "digest_algorithms", "encap_content_info"):
        assert ours[name].dump() == theirs[name].dump()
    # pyHanko embeds the signer's certificate twice; the same certificates, once each, here.
    assert sorted(c.dump() for c in ours["certificates"]) == sorted(
        {c.dump() for c in theirs["certificates"]})
