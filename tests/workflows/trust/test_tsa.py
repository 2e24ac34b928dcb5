"""The RFC 3161 responder: granted tokens pyHanko accepts, rejections for bad requests."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from asn1crypto import algos, cms, tsp
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from workflows import clock
from workflows.trust import tsa as tsa_mod
from workflows.trust.signers import EmbeddedTimeStamper, load_timestamper


def _request(digest: bytes = hashlib.sha256(b"doc").digest(), algorithm: str = "sha256",
             **extra) -> tsp.TimeStampReq:
    return tsp.TimeStampReq({"version": 1, "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
        "hashed_message": digest}, **extra})


def _answer(trust, request) -> tsp.TimeStampResp:
    return tsp.TimeStampResp.load(tsa_mod.respond(request.dump(), trust.tsa_identity()))


async def test_pyhanko_accepts_the_token(trust):
    stamper = load_timestamper(trust.settings)
    assert isinstance(stamper, EmbeddedTimeStamper)
    digest = hashlib.sha256(b"a document").digest()
    token = await stamper.async_timestamp(digest, "sha256")
    signed_data = token["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["policy"].native == tsa_mod.TSA_POLICY
    bundle = await trust.validation_bundle([], after_signing=False)  # The TSA's own chain.
    context = ValidationContext(trust_roots=trust.trust_roots(), allow_fetching=False,
                                crls=bundle.asn1_crls, ocsps=bundle.asn1_ocsps,
                                revocation_mode="require")
    status = await validate_tst_signed_data(signed_data, context, lambda algo: digest)
    assert status["intact"] and status["valid"]
    assert status["trust_problem_indic"] is None
    assert status["validation_path"].first.dump() == trust.authority("root").der


def test_nonce_cert_req_serials_and_clock(trust):
    first = _answer(trust, _request(nonce=424242, cert_req=True))
    assert first["status"]["status"].native == "granted"
    signed = first["time_stamp_token"]["content"]
    info = signed["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 424242
    assert trust.authority("tsa").der in [c.chosen.dump() for c in signed["certificates"]]
    without_certs = _answer(trust, _request(cert_req=False))["time_stamp_token"]["content"]
    assert not without_certs["certificates"]
    serials = {_answer(trust, _request())["time_stamp_token"]["content"][
        "encap_content_info"]["content"].parsed["serial_number"].native for _ in range(20)}
    assert len(serials) == 20
    clock.fast_forward(days=3)
    later = _answer(trust, _request())["time_stamp_token"]["content"]
    gen_time = later["encap_content_info"]["content"].parsed["gen_time"].native
    assert abs(gen_time - clock.now()) < timedelta(seconds=5)


def test_bad_requests_are_rejected(trust):
    def fail_info(answer: bytes) -> set:
        resp = tsa_mod.TimeStampResp.load(answer)
        assert resp["status"]["status"].native == "rejection"
        assert not resp["time_stamp_token"]
        return resp["status"]["fail_info"].native

    identity = trust.tsa_identity()
    assert fail_info(tsa_mod.respond(b"not der at all", identity)) == {"bad_data_format"}
    assert fail_info(tsa_mod.respond(_request(hashlib.sha1(b"x").digest(), "sha1").dump(),
                                     identity)) == {"bad_alg"}
    assert fail_info(tsa_mod.respond(_request(b"short").dump(), identity)) == {"bad_data_format"}
    assert fail_info(tsa_mod.respond(_request(req_policy="1.2.3.4").dump(), identity)) == {
        "unaccepted_policy"}


async def test_timestamper_from_settings_alone(trust, settings):
    # A worker process has only the settings: the TSA identity is published under HOME.
    stamper = load_timestamper(settings.model_copy())
    assert isinstance(stamper, TimeStamper)
    token = await stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256")
    assert isinstance(token, cms.ContentInfo)


def test_external_tsa_url_is_used_when_set(settings):
    from pyhanko.sign.timestamps import HTTPTimeStamper

    stamper = load_timestamper(settings.model_copy(update={"tsa_url": "http://127.0.0.1:9/tsa"}))
    assert isinstance(stamper, HTTPTimeStamper) and stamper.url == "http://127.0.0.1:9/tsa"
