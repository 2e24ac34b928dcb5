"""`paraphe spool list|show|retry|drop` and the spool gauges of /metrics, as an operator uses
them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mail_gateway import pipeline
from mail_gateway.models import InboundMessage
from mail_gateway.spools import open_spool
from tests.cli import paraphe
from tests.mail_gateway.hostile import message, pending, quarantined, wait_for
from tests.mail_gateway.mailer import outbox, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import clock

UNREADABLE = message(subject=b"Lettre =?utf-8?q?=C3=A9t=C3=A9?=", message_id=b"<q1@dupont.fr>",
                     pdf=make_pdf(text="Lettre"), filename_param=b"filename*")


def _envelope(firm, hours_ago: float) -> dict:
    return {"mail_from": "paul@dupont.fr", "rcpt": "seal+…@paraphe.localhost",
            "command": "seal", "cabinet": None, "person_id": firm.paul.id,
            "auth": {"method": "secret"}, "peer": "127.0.0.1",
            "received_at": (clock.now() - timedelta(hours=hours_ago)).isoformat()}


async def test_operator_lists_shows_retries_and_drops_spooled_mail(svc, firm, settings,
                                                                   web_site):
    spool = open_spool(settings)
    (waiting,) = await spool.write([_envelope(firm, 2)], message(message_id=b"<w1@dupont.fr>"))
    (aside,) = await spool.write([_envelope(firm, 1)], UNREADABLE)
    await spool.quarantine(aside, {"reason": "message_unreadable", "reply": None})
    # The ids `paraphe spool` shows: the file's name without .eml, or the row's name.
    waiting, aside = waiting.removesuffix(".eml"), aside.removesuffix(".eml")

    result = await asyncio.to_thread(paraphe, settings, "spool", "list", "--json")
    assert result.code == 0, result.err
    listing = result.json()
    assert 7190 < listing["oldest_unanswered_seconds"] < 7300
    states = {m["id"]: (m["state"], (m["reason"] or {}).get("reason"))
              for m in listing["messages"]}
    assert states == {waiting: ("pending", None),
                      aside: ("quarantined", "message_unreadable")}

    metrics = await (await web_site.get(f"{settings.public_url}/metrics")).text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics) for s in family.samples}
    assert samples["paraphe_spool_messages", (("state", "pending"),)] == 1
    assert samples["paraphe_spool_messages", (("state", "quarantined"),)] == 1
    age = samples["paraphe_spool_oldest_unanswered_seconds", ()]
    assert 7190 < age < 7300

    result = await asyncio.to_thread(paraphe, settings, "spool", "show", aside, "--json")
    shown = result.json()
    assert shown["subject"] == "Lettre été" and shown["message_id"] == "<q1@dupont.fr>"
    assert shown["reason"]["reason"] == "message_unreadable"

    result = await asyncio.to_thread(paraphe, settings, "spool", "retry", waiting)
    assert result.code == 2 and "not quarantined" in result.err
    result = await asyncio.to_thread(paraphe, settings, "spool", "retry", aside, "--json")
    assert result.code == 0, result.err
    back = result.json()["id"]
    assert back != aside and (await spool.find(back)).envelope["retried_at"]
    assert await quarantined(settings) == []

    for ident in (waiting, back):
        result = await asyncio.to_thread(paraphe, settings, "spool", "drop", ident)
        assert result.code == 0, result.err
    assert await pending(settings) == []
    result = await asyncio.to_thread(paraphe, settings, "spool", "show", "nothing-here")
    assert result.code == 2 and "no message 'nothing-here'" in result.err


@pytest.fixture
def fast_rescan(monkeypatch):
    monkeypatch.setattr(pipeline, "RESCAN_SECONDS", 0.2)


async def test_a_retried_message_is_processed_again_by_the_running_gateway(
        fast_rescan, gateway, firm, settings):
    await send(gateway.port, UNREADABLE, mail_from="paul@dupont.fr",
               rcpts=f"seal+{firm.secret(firm.paul)}@paraphe.localhost")
    await wait_outbox(settings.home, 1)
    assert await wait_for(lambda: quarantined(settings))
    ((ident, _),) = await quarantined(settings)

    result = await asyncio.to_thread(paraphe, settings, "spool", "retry", ident)
    assert result.code == 0, result.err

    async def set_aside_again():
        return await quarantined(settings) and not await pending(settings)

    # Still unreadable: set aside again, and its sender is not told twice.
    assert await wait_for(set_aside_again)
    ((again, reason),) = await quarantined(settings)
    assert again != ident and reason["reason"] == "message_unreadable"
    assert (await InboundMessage.get()).state == "quarantined"
    await asyncio.sleep(0.5)
    assert len(outbox(settings.home)) == 1
