"""SMPP 3.4 through smpplib against a small SMSC on loopback: a signer's code asked through the
core goes out as a submit_sm, and its delivery receipt is recorded on the notification."""

from __future__ import annotations

import asyncio
import socket

import pytest
from smpplib import consts

from sms_gateway.sender import SmsSender
from sms_gateway.smpp import SmppProvider
from tests.dispatching import sms_dispatcher
from tests.fakes.smsc import TinySmsc
from tests.workflows.collection_world import (  # noqa: F401 - fixtures
    link_of,
    pdf,
    token_of,
    world,
    world_settings,
)
from workflows import collections, notifications
from workflows.collections import SignerSpec
from workflows.models import Notification, Signer
from workflows.notifications import DeliveryRefused

WEB = dict(ip="192.0.2.7", user_agent="Mozilla/5.0 test")


@pytest.fixture
async def smsc():
    server = await TinySmsc().start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def provider(smsc):
    p = SmppProvider("127.0.0.1", smsc.port, "paraphe", "secret", source_addr="Paraphe",
                     on_receipt=notifications.record_report, timeout=5)
    try:
        yield p
    finally:
        await p.close()


async def _signer_with_mobile(world, phone="+33 6 11 22 33 44"):
    await collections.create_collection(
        world.svc, world.actor(world.expert), cabinet="dupre",
        documents=[("lettre.pdf", pdf())],
        signers=[SignerSpec("Claire Client", "claire@example.test", phone)])
    return token_of(await link_of("claire@example.test"))


async def _until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_code_reaches_the_smsc_and_its_receipt_is_recorded(world, smsc, provider):
    token = await _signer_with_mobile(world)
    assert await collections.send_code(world.svc, token, "sms", **WEB) == "sms"
    # The core only recorded the message, in its transaction: nothing went out yet.
    n = await Notification.get(channel="sms", recipient="+33611223344")
    signer = await Signer.get(email="claire@example.test")
    assert n.state == "pending" and n.signer_id == signer.id and smsc.submitted == []
    code = n.context["code"]

    worker = sms_dispatcher(world.svc, SmsSender(world.svc.settings, provider))
    assert await worker.run_once() == 1
    [sent] = smsc.submitted
    assert smsc.binds == [{"system_id": "paraphe", "ok": True}]
    assert sent.destination_addr == "33611223344" and sent.source_addr == "Paraphe"
    assert sent.registered_delivery == 1 and sent.data_coding == consts.SMPP_ENCODING_DEFAULT
    assert code in sent.text and "Cabinet Dupré" in sent.text and "Paraphe" in sent.text
    assert "http" not in sent.text.lower() and "/s/" not in sent.text

    async def delivered():
        return (await Notification.get(id=n.id)).delivery_status == "delivered"
    await _until(delivered)
    n = await Notification.get(id=n.id)
    assert n.state == "sent" and n.provider_ref == sent.message_id and n.reported_at
    assert n.failure_reason is None
    assert n.context["code"] == notifications.BLANK_CODE  # Not kept in clear once out.
    await smsc.wait_for(lambda: smsc.receipts_answered)  # deliver_sm_resp went back.

    signed = await collections.sign_with_code(world.svc, token, code, consent=True, **WEB)
    assert signed.state == "signed"


async def test_undelivered_receipt_marks_the_message_failed(world, smsc, provider):
    smsc.receipt_stat = "UNDELIV"
    token = await _signer_with_mobile(world)
    await collections.send_code(world.svc, token, "sms", **WEB)
    worker = sms_dispatcher(world.svc, SmsSender(world.svc.settings, provider))
    await worker.run_once()

    async def reported():
        return (await Notification.get(channel="sms")).delivery_status is not None
    await _until(reported)
    n = await Notification.get(channel="sms")
    assert n.delivery_status == "failed" and n.failure_reason == "sms_undeliverable"
    assert "stat:UNDELIV" in n.last_error


async def test_long_text_outside_gsm_goes_as_ucs2_parts(smsc, provider):
    text = "Код подписи " * 12  # Cyrillic: UCS-2; 144 characters need three 67-character parts.
    ref = await provider.send("+33611223344", text)
    await smsc.wait_for(lambda: len(smsc.submitted) == 3)
    assert ref == smsc.submitted[0].message_id
    assert {s.data_coding for s in smsc.submitted} == {consts.SMPP_ENCODING_ISO10646}
    assert all(s.esm_class & consts.SMPP_GSMFEAT_UDHI for s in smsc.submitted)
    assert "".join(s.text for s in smsc.submitted) == text


async def test_a_refused_number_is_refused_for_good(smsc, provider):
    smsc.refuse_status = consts.SMPP_ESME_RINVDSTADR
    with pytest.raises(DeliveryRefused) as info:
        await provider.send("+33611223344", "Paraphe : test")
    assert info.value.reason == "sms_undeliverable"


async def test_a_throttled_submit_is_a_failure_to_retry(smsc, provider):
    smsc.refuse_status = consts.SMPP_ESME_RTHROTTLED
    with pytest.raises(ConnectionError):
        await provider.send("+33611223344", "Paraphe : test")


async def test_smsc_down_is_a_failure_to_retry():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = SmppProvider("127.0.0.1", port, "paraphe", "secret", timeout=2)
    with pytest.raises(Exception) as info:
        await provider.send("+33611223344", "Paraphe : test")
    assert not isinstance(info.value, DeliveryRefused)
    await provider.close()
