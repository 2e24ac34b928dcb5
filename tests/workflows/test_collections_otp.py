"""Signer codes and internal signers: wrong, expired, locked, rate-limited, SMS, Telegram /sign."""

from __future__ import annotations

import asyncio

import pytest

from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    code_of,
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from tests.sms import sent_sms
from workflows import clock, collections
from workflows.collections import SignerSpec
from workflows.errors import (
    NotASignerError,
    OtpExpiredError,
    OtpInvalidError,
    OtpLockedError,
    OtpRateLimitedError,
    SignerLinkInvalidError,
    SmsUnavailableError,
)
from workflows.models import Collection, Signer, SignerCode

WEB = dict(ip="192.0.2.7", user_agent="Mozilla/5.0 test")


async def _one(world, phone=None, signers=None):
    specs = signers or [SignerSpec("Claire Client", "claire@example.test", phone)]
    collection = await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf())], signers=specs)
    return collection, token_of(await link_of(specs[0].email))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


async def test_wrong_code_counts_then_locks_after_five(world):
    _, token = await _one(world)
    await collections.send_code(world.svc, token, "mail")
    code = await code_of("claire@example.test")
    for left in (4, 3, 2, 1):
        with pytest.raises(OtpInvalidError) as info:
            await collections.sign_with_code(world.svc, token, _wrong(code), consent=True, **WEB)
        assert info.value.details["attempts_left"] == left
    with pytest.raises(OtpLockedError):
        await collections.sign_with_code(world.svc, token, _wrong(code), consent=True, **WEB)
    # Dead now, even with the right code; a new one works.
    with pytest.raises(OtpLockedError):
        await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    clock.fast_forward(seconds=31)
    await collections.send_code(world.svc, token, "mail")
    signer = await collections.sign_with_code(world.svc, token,
                                              await code_of("claire@example.test"),
                                              consent=True, **WEB)
    assert signer.state == "signed"


async def test_code_expires_after_ten_minutes_and_is_single_use(world):
    _, token = await _one(world, signers=[SignerSpec("A", "a@example.test"),
                                          SignerSpec("B", "b@example.test")])
    await collections.send_code(world.svc, token, "mail")
    code = await code_of("a@example.test")
    clock.fast_forward(minutes=10, seconds=1)
    with pytest.raises(OtpExpiredError):
        await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    with pytest.raises(OtpExpiredError):  # nothing sent yet for B
        await collections.sign_with_code(world.svc, token_of(await link_of("b@example.test")),
                                         "123456", consent=True, **WEB)
    # Stored hashed only.
    row = await SignerCode.filter().order_by("-id").first()
    assert code not in (row.digest, row.salt)


async def test_sending_is_rate_limited_per_link(world):
    _, token = await _one(world)
    await collections.send_code(world.svc, token, "mail")
    with pytest.raises(OtpRateLimitedError) as info:
        await collections.send_code(world.svc, token, "mail")
    assert info.value.details["retry_after"] > 0
    for _ in range(4):
        clock.fast_forward(seconds=31)
        await collections.send_code(world.svc, token, "mail")
    clock.fast_forward(seconds=31)
    with pytest.raises(OtpRateLimitedError):  # five within the hour
        await collections.send_code(world.svc, token, "mail")


async def test_code_by_sms_goes_to_the_provider_folder(world):
    _, token = await _one(world, phone="+33 6 11 22 33 44")
    assert await collections.send_code(world.svc, token, "sms") == "sms"
    sent = await sent_sms(world.svc)
    assert sent[-1]["to"] == "+33611223344"
    code = sent[-1]["text"].split(" est ")[1][:6]
    signer = await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    assert signer.state == "signed"


async def test_sms_without_mobile_is_refused(world):
    _, token = await _one(world)
    with pytest.raises(SmsUnavailableError):
        await collections.send_code(world.svc, token, "sms")


async def test_unknown_link(world):
    with pytest.raises(SignerLinkInvalidError):
        await collections.signer_view("nope" * 8)


async def test_internal_signer_signs_with_personal_certificate(world):
    from tests.registration import register_and_approve
    from workflows import delegations
    from workflows.actors import Actor

    await delegations.grant(Actor.operator(), world.launcher, world.cabinet, "sign")
    await register_and_approve(world.svc, world.launcher, phone="+33612345678")
    collection = await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("pv.pdf", pdf("PV AG"))],
        signers=[SignerSpec("Léa Lance", "launch@dupre.test")])
    signer = await Signer.get(collection_id=collection.id)
    assert signer.person_id == world.launcher.id
    actor = world.actor(world.launcher)
    assert await collections.request_signature_code(world.svc, actor, collection.id) == "sms"
    code = (await sent_sms(world.svc))[-1]["text"].split(" est ")[1][:6]
    with pytest.raises(NotASignerError):
        await collections.sign_internal(world.svc, world.actor(world.expert), collection.id, code)
    signed = await collections.sign_internal(world.svc, actor, collection.id, code)
    assert signed.state == "signed"
    from workflows.models import Certificate
    cert = await Certificate.get(serial=signed.certificate_serial)
    assert cert.kind == "personal" and cert.person_id == world.launcher.id
    assert (await Collection.get(id=collection.id)).state == "completed"


async def test_co_signer_without_sign_delegation_signs_with_a_one_time_certificate(world):
    # A member without `sign` is added as a co-signer: no registration, like a client.
    collection = await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("pv.pdf", pdf("PV AG"))],
        signers=[SignerSpec("Léa Lance", "launch@dupre.test")])
    actor = world.actor(world.launcher)
    assert await collections.request_signature_code(world.svc, actor, collection.id) == "sms"
    code = (await sent_sms(world.svc))[-1]["text"].split(" est ")[1][:6]
    signed = await collections.sign_internal(world.svc, actor, collection.id, code)
    from workflows.models import Certificate
    cert = await Certificate.get(serial=signed.certificate_serial)
    assert cert.kind == "one_time"


async def test_codes_asked_at_once_send_one(world):
    # Asked together (two instances, or two tabs): the rate is counted once for all.
    _, token = await _one(world)
    results = await asyncio.gather(*(collections.send_code(world.svc, token, "mail")
                                     for _ in range(4)), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["OtpRateLimitedError"] * 3 + ["str"]
    assert await SignerCode.filter().count() == 1
