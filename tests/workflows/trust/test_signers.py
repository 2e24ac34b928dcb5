"""Signers from a SigningKeyRef: PAdES B-LT that pyHanko trusts, in any process."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from tests.pdfs import make_pdf
from tests.workflows.trust.blt import assert_trusted_blt, sign_blt
from workflows.trust.signers import KeptKeySigner, load_signer


def _sign_in_worker(settings, key, bundle, trust_root, pdf: bytes) -> bytes:
    return asyncio.run(sign_blt(settings, key, bundle, pdf, [trust_root]))


async def test_software_seal_is_trusted_by_pyhanko(trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row])
    signer = load_signer(settings, key)
    assert isinstance(signer, KeptKeySigner)
    assert load_signer(settings, key) is signer  # Built once per process.
    signed = await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots())
    await assert_trusted_blt(trust, bundle, signed)


async def test_one_time_signature_is_trusted(trust, settings):
    row = await trust.issue_one_time_certificate("Jean Martin", "jean@client.example")
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([key])
    signed = await sign_blt(settings, key, bundle, make_pdf(), trust.trust_roots())
    await assert_trusted_blt(trust, bundle, signed)


async def test_a_spawned_worker_signs_from_settings_alone(trust, cabinet, settings):
    row = await trust.seal_certificate_for(cabinet)
    key = await trust.signing_key(row)
    bundle = await trust.validation_bundle([row])
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        signed = await asyncio.get_running_loop().run_in_executor(
            pool, _sign_in_worker, settings, key, bundle, trust.trust_roots()[0], make_pdf())
    await assert_trusted_blt(trust, bundle, signed)
