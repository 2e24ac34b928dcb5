"""Outgoing mail: the Maildir outbox once per reply, the relay with retries, DKIM signatures."""

from __future__ import annotations

import asyncio
import subprocess

import dkim

from tests.dispatching import mail_dispatcher
from tests.cli import paraphe
from tests.fakes.dns import FakeDns, make_dkim_key
from tests.fakes.smtp_sink import SmtpSink
from tests.mail_gateway.mailer import outbox
from workflows import clock, deliveries, holders, notifications
from workflows.models import Notification

THREAD = {"subject": "Re: Bilan", "in_reply_to": "<q1@dupont.fr>",
          "references": "<q0@dupont.fr> <q1@dupont.fr>", "from": "seal@paraphe.localhost"}
CONTEXT = {"name": "Paul", "command": "seal", "mail_domain": "paraphe.localhost",
           "cause": {"code": "document_missing"}, "cabinets": ["dupont"]}


async def _reply(dedup: str = "t:1", language: str = "en") -> Notification:
    return await notifications.enqueue(channel="mail", template="sender/refused",
                                       recipient="paul@dupont.fr", language=language,
                                       context=CONTEXT, thread=THREAD, dedup_key=dedup)


async def test_maildir_gets_each_reply_once_even_when_sent_again(svc, settings):
    n = await _reply()
    worker = mail_dispatcher(svc)
    assert await worker.run_once() == 1
    (msg,) = outbox(settings.home)
    assert msg["Subject"] == "Re: Bilan" and msg["In-Reply-To"] == "<q1@dupont.fr>"
    assert msg["References"] == "<q0@dupont.fr> <q1@dupont.fr>"
    assert msg["Auto-Submitted"] == "auto-replied"
    # A crash after the write and before mark_sent: the notification is delivered again.
    await Notification.filter(id=n.id).update(state="pending")
    assert await worker.run_once() == 1
    assert len(outbox(settings.home)) == 1
    assert (await Notification.get(id=n.id)).state == "sent"


def _dead_holder(home) -> str:
    """The claim name of a process of this host and home that was killed."""
    proc = subprocess.Popen(["true"])  # noqa: S603, S607
    proc.wait()
    return holders.SEPARATOR.join((holders.same_place_prefix(home).rstrip(holders.SEPARATOR),
                                   str(proc.pid), "dead0000"))


async def test_stale_claims_are_taken_back_at_start(svc, settings):
    n = await _reply()
    # A process of this instance (same host and home) killed mid-send.
    await Notification.filter(id=n.id).update(state="sending",
                                              claimed_by=_dead_holder(settings.home))
    worker = mail_dispatcher(svc, poll_interval=0.05)
    worker.start()
    try:
        for _ in range(400):
            if (await Notification.get(id=n.id)).state == "sent":
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert len(outbox(settings.home)) == 1


async def test_claims_of_another_live_instance_wait_for_the_claim_timeout(svc, settings,
                                                                          tmp_path):
    n = await _reply()
    # Another instance of the fleet (another home), maybe writing into its own Maildir now;
    # and a live process of this home: neither claim is taken back at start.
    other = holders.holder_name(tmp_path / "other-home")
    live = holders.holder_name(settings.home)
    m = await _reply(dedup="t:2")
    await Notification.filter(id=n.id).update(state="sending", claimed_by=other)
    await Notification.filter(id=m.id).update(state="sending", claimed_by=live)
    worker = mail_dispatcher(svc)
    await worker.release_stale_claims()
    assert await worker.run_once() == 0
    assert {x.state for x in await Notification.all()} == {"sending"}
    assert outbox(settings.home) == []
    clock.fast_forward(seconds=notifications.CLAIM_TIMEOUT.total_seconds() + 1)
    assert await worker.run_once() == 2  # stale: the claims of dead workers, taken back
    assert len(outbox(settings.home)) == 2


async def test_relay_delivery_retries_with_backoff_and_signs_with_dkim(svc, settings, tmp_path):
    key = make_dkim_key("paraphe.localhost", "paraphe")
    (tmp_path / "dkim.pem").write_bytes(key.private_pem)
    sink = await SmtpSink().start()
    settings.smtp_relay = sink.address
    settings.dkim_private_key = tmp_path / "dkim.pem"
    settings.dkim_selector = "paraphe"
    try:
        n = await _reply(language="fr")
        sink.fail_next = 1
        worker = mail_dispatcher(svc)
        assert await worker.run_once() == 0
        failed = await Notification.get(id=n.id)
        assert failed.state == "pending" and failed.attempts == 1 and "451" in failed.last_error
        assert await worker.run_once() == 0  # not due yet: backoff
        clock.fast_forward(seconds=11)
        assert await worker.run_once() == 1
        assert (await Notification.get(id=n.id)).state == "sent"
        ((mail_from, rcpts, data),) = sink.messages
        assert rcpts == ["paul@dupont.fr"]
        assert mail_from == deliveries.return_path(settings, n.id)  # VERP: bounces name it
        dns = FakeDns()
        dns.publish(key)
        assert dkim.verify(data, dnsfunc=lambda name, timeout=5: dns.records.get(
            name.decode().rstrip(".").lower(), "").encode())
        text = sink.parsed().get_body(preferencelist=("plain",)).get_content()
        assert "n'a pas pu être traité" in text
    finally:
        await sink.close()


async def test_outbox_command_lists_what_went_out(svc, settings, db):
    await _reply()
    await mail_dispatcher(svc).run_once()
    listing = paraphe(settings, "outbox", "--json").json()
    (item,) = listing["messages"]
    assert item["to"] == "paul@dupont.fr" and item["subject"] == "Re: Bilan"
    assert item["in_reply_to"] == "<q1@dupont.fr>" and item["attachments"] == []
    text = paraphe(settings, "outbox").out
    assert "paul@dupont.fr  Re: Bilan" in text


async def test_a_refusal_in_french_has_the_english_below_and_one_signature(svc, settings):
    await _reply(dedup="t:fr", language="fr")
    await _reply(dedup="t:en", language="en")
    assert await mail_dispatcher(svc).run_once() == 2
    bodies = {m["Content-Language"]: m.get_body(preferencelist=("plain",)).get_content()
              for m in outbox(settings.home)}
    french = bodies["fr"]
    assert french.index("n'a pas pu être traité") < french.index("English version below")
    assert french.index("English version below") < french.index("could not be processed")
    assert french.count("\n-- \n") == 1 and french.rstrip().endswith("Paraphe")
    # Someone who chose English reads English alone.
    assert "could not be processed" in bodies["en"] and "traité" not in bodies["en"]
    assert "English version below" not in bodies["en"]
