"""The spool of a fleet on one PostgreSQL (mail_gateway.spool_db): committed before the 250,
claimed by one worker at a time, finished by another instance when the accepting one dies,
its retries kept in the row. The last test runs on both spools."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta

import asyncpg
import pytest

from mail_gateway import pipeline, spool_db
from mail_gateway.models import InboundMessage, SpooledMail
from mail_gateway.server import start_gateway
from mail_gateway.spool_db import DatabaseSpool
from paraphe import templating
from tests.conftest import BACKEND
from tests.mail_gateway.hostile import pending, wait_for
from tests.mail_gateway.mailer import build, outbox, raw, send, wait_outbox
from tests.pdfs import make_pdf
from workflows import clock, mail_in
from workflows.models import LedgerEntry, Notification
from workflows.services import Services

postgres_only = pytest.mark.skipif(
    BACKEND != "postgres", reason="a PostgreSQL spool: PARAPHE_TEST_DATABASE=postgres")


def _mail(firm, tag: str) -> tuple[str, bytes]:
    rcpt = mail_in.address_for(firm.settings, firm.paul)
    return rcpt, raw(build(sender="paul@dupont.fr", to=rcpt, subject=f"Lettre {tag}",
                           attachments=[(f"{tag}.pdf", make_pdf(text=tag))],
                           message_id=f"<{tag}@dupont.fr>"))


async def _rows_seen_by_another_connection(settings) -> list:
    """What a separate connection sees: only what was committed."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch("SELECT name, raw, state, lease_holder FROM spooled_mail")
    finally:
        await conn.close()


@pytest.fixture
async def other_instance(svc, settings, tmp_path):
    """A second instance on the same database: its own home, Services and gateway."""
    other = settings.model_copy(update={"home": tmp_path / "b", "smtp_port": 0})
    other.ensure_home()
    services = await Services.start(other, templating)
    gateways = []

    async def start():
        gateways.append(await start_gateway(services))
        return gateways[-1]

    yield start
    for gw in gateways:
        await gw.close()
    await services.close()


@postgres_only
async def test_the_message_is_committed_in_the_database_before_the_250(gateway, firm,
                                                                       settings):
    await gateway.worker.stop()  # the instance dies right after its 250: nothing processed
    rcpt, data = _mail(firm, "commit")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)

    (row,) = await _rows_seen_by_another_connection(settings)
    assert bytes(row["raw"]) == data and row["state"] == "pending"
    assert row["lease_holder"] == gateway.worker.holder  # its own, to process at once
    assert not (settings.home / "spool" / "new").exists() or not list(
        (settings.home / "spool" / "new").iterdir())
    assert await InboundMessage.all().count() == 0


@postgres_only
async def test_a_failed_insert_answers_451_and_keeps_nothing(gateway, firm, settings,
                                                             monkeypatch):
    real_create = SpooledMail.create
    calls = []

    async def second_insert_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        return await real_create(*args, **kwargs)

    monkeypatch.setattr(SpooledMail, "create", second_insert_fails)
    rcpt, data = _mail(firm, "broken")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(gateway.port, data, mail_from="paul@dupont.fr",
                   rcpts=[rcpt, rcpt])
    assert refused.value.smtp_code == 451
    # One transaction: the first recipient's row went with the second's failure.
    assert len(calls) == 2 and await _rows_seen_by_another_connection(settings) == []


@postgres_only
async def test_mail_accepted_by_a_dead_instance_is_answered_once_by_another(
        gateway, firm, settings, other_instance, monkeypatch):
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 0.1)
    await gateway.worker.stop()  # instance A: its worker killed, its lease held
    rcpt, data = _mail(firm, "orphan")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)
    (held,) = await SpooledMail.all()
    assert held.lease_holder == gateway.worker.holder

    second = await other_instance()  # instance B polls, and respects the live lease
    await asyncio.sleep(1.0)
    assert await InboundMessage.all().count() == 0
    assert (await SpooledMail.get(id=held.id)).lease_holder == gateway.worker.holder

    clock.fast_forward(seconds=spool_db.LEASE.total_seconds() + 1)  # A's lease expires
    (reply,) = await wait_outbox(settings.home, 1)  # A's dispatcher sends what B recorded
    assert reply["In-Reply-To"] == "<orphan@dupont.fr>"
    assert await wait_for(lambda: _spool_is_empty())
    assert await InboundMessage.filter(state="done").count() == 1
    assert await LedgerEntry.filter(kind="debit").count() == 1
    await second.worker.idle.wait()
    await asyncio.sleep(0.5)
    assert await Notification.filter(channel="mail").count() == 1
    assert len(outbox(settings.home)) == 1


async def _spool_is_empty() -> bool:
    return await SpooledMail.all().count() == 0


@postgres_only
async def test_concurrent_claims_never_hand_out_the_same_entry(db, settings):
    spool = DatabaseSpool()
    envelope = {"command": "seal", "received_at": clock.now().isoformat()}
    names = []
    for _ in range(10):
        names += await spool.write([envelope] * 20, b"Subject: x\r\n\r\nx\r\n")
    claimed: dict[str, list[str]] = {}

    async def worker(holder: str) -> None:
        while got := await spool.claim(holder, 3):
            claimed.setdefault(holder, []).extend(got)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(f"w{i}") for i in range(8)))
    handed = [name for got in claimed.values() for name in got]
    assert sorted(handed) == sorted(names)  # each exactly once
    assert len(claimed) > 1  # the workers did claim side by side
    # Raw connections, truly concurrent: a row locked by one claim is skipped by the other.
    await SpooledMail.all().update(lease_holder=None, lease_until=None)
    conns = [await asyncpg.connect(settings.database_url) for _ in range(4)]
    try:
        now = clock.now()
        results = await asyncio.gather(*(
            c.fetch(spool_db._CLAIM, f"c{i}", now + spool_db.LEASE, now, 60)
            for i, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    handed = [r["name"] for rows in results for r in rows]
    assert len(handed) == len(set(handed)) == len(names)


@postgres_only
async def test_the_retry_schedule_is_in_the_row_and_another_instance_honours_it(
        gateway, firm, settings, other_instance, monkeypatch):
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 0.1)
    real_record = pipeline._record

    async def database_away(*args, **kwargs):
        raise ConnectionError("the database is away")

    monkeypatch.setattr(pipeline, "_record", database_away)
    monkeypatch.setattr(pipeline, "RETRY_DELAYS", (60.0,))
    rcpt, data = _mail(firm, "retry")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)

    async def postponed():
        row = await SpooledMail.get_or_none(attempts=1)
        return row if row is not None and row.lease_holder is None else None

    row = await wait_for(postponed)
    assert row and 55 < (row.not_before - clock.now()).total_seconds() <= 60
    await gateway.close()  # instance A stops; B takes over, but not before the row says
    monkeypatch.setattr(pipeline, "_record", real_record)
    await other_instance()
    await asyncio.sleep(1.0)
    assert await SpooledMail.all().count() == 1 and await InboundMessage.all().count() == 0

    clock.fast_forward(seconds=61)
    assert await wait_for(lambda: _spool_is_empty())
    assert (await InboundMessage.get()).state == "done"
    assert await LedgerEntry.filter(kind="debit").count() == 1


@postgres_only
async def test_a_long_message_keeps_its_lease_while_it_is_processed(
        gateway, firm, settings, other_instance, monkeypatch):
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(spool_db, "LEASE", timedelta(seconds=1.2))  # renewed every 0.3 s
    await gateway.worker.stop()
    gateway.worker.start()  # A's renewals at the new period
    second = await other_instance()
    real_answer = pipeline._answer_command

    async def slow_command(ctx):
        await asyncio.sleep(3.0)  # longer than two leases: B would take it if not renewed
        return await real_answer(ctx)

    monkeypatch.setattr(pipeline, "_answer_command", slow_command)
    rcpt, data = _mail(firm, "long")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)
    # A is full from now on: it claims nothing more, so only its renewals keep the row; B is
    # idle and polls.
    monkeypatch.setattr(gateway.worker, "room", lambda: 0)
    await wait_outbox(settings.home, 1)
    assert await wait_for(lambda: _spool_is_empty())
    await asyncio.sleep(0.5)
    assert not second.worker._queued  # B never took it
    assert await InboundMessage.filter(state="done").count() == 1
    assert (await InboundMessage.get()).attempts == 1  # one processing, by A alone
    assert await LedgerEntry.filter(kind="debit").count() == 1


async def test_a_crash_between_the_answer_and_the_removal_answers_once(
        gateway, firm, settings, monkeypatch):
    """Both spools: the entry is removed after the InboundMessage row records the answer; when
    the removal fails, the next try finds the row done and answers nothing more."""
    monkeypatch.setattr(pipeline, "RETRY_DELAYS", (0.2,))
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 0.1)
    spool = gateway.spool
    real_remove = type(spool).remove
    failures = []

    async def remove_fails_once(self, ident):
        if not failures:
            failures.append(ident)
            raise OSError("power cut before the removal")
        return await real_remove(self, ident)

    monkeypatch.setattr(type(spool), "remove", remove_fails_once)
    rcpt, data = _mail(firm, "twice")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)
    await wait_outbox(settings.home, 1)

    async def settled():
        return failures and not await pending(settings)

    assert await wait_for(settled)
    await gateway.worker.idle.wait()
    await gateway.delivery.run_once()
    assert len(outbox(settings.home)) == 1
    assert await InboundMessage.filter(state="done").count() == 1
    assert await LedgerEntry.filter(kind="debit").count() == 1


@postgres_only
async def test_an_instance_stopped_cleanly_hands_its_mail_over_at_once(
        gateway, firm, settings, other_instance, monkeypatch):
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 0.1)
    second = await other_instance()
    await gateway.worker.stop()  # A is busy elsewhere: what it accepts waits under its lease
    rcpt, data = _mail(firm, "handover")
    await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)
    assert (await SpooledMail.get()).lease_holder == gateway.worker.holder
    await gateway.close()  # SIGTERM: its leases are freed, no expiry to wait for
    (reply,) = await wait_outbox(settings.home, 1)  # well before the 2-minute expiry
    assert reply["In-Reply-To"] == "<handover@dupont.fr>"
    assert await wait_for(lambda: _spool_is_empty())
    assert second.worker.holder != gateway.worker.holder
    assert (await InboundMessage.get()).state == "done"


@postgres_only
async def test_a_burst_beyond_the_workers_room_is_claimed_as_they_free_up(
        gateway, firm, settings, monkeypatch):
    # The timer would claim the overflow only in ten minutes: what is answered below was
    # claimed because a worker came free.
    monkeypatch.setattr(pipeline, "POLL_SECONDS", 600.0)
    gateway.worker._wake.set()  # the poll's current wait ends; the next one is 600 s
    await asyncio.sleep(0.2)
    monkeypatch.setattr(gateway.worker, "concurrency", 1)  # room for two at a time
    tags = [f"burst{i}" for i in range(6)]
    for tag in tags:
        rcpt, data = _mail(firm, tag)
        await send(gateway.port, data, mail_from="paul@dupont.fr", rcpts=rcpt)
    assert any(row.lease_holder is None for row in await SpooledMail.all())  # overflow
    replies = await wait_outbox(settings.home, len(tags))
    assert sorted(r["In-Reply-To"] for r in replies) == sorted(f"<{t}@dupont.fr>" for t in tags)
    assert await wait_for(lambda: _spool_is_empty())


@postgres_only
async def test_mail_left_in_the_file_spool_moves_to_the_shared_one_at_start(
        svc, firm, settings, other_instance, tmp_path):
    from mail_gateway.spool import Spool

    rcpt, data = _mail(firm, "left")
    files = Spool(tmp_path / "b" / "spool")  # what the instance accepted on the files
    files.write({"mail_from": "paul@dupont.fr", "rcpt": f"seal+…@{settings.mail_domain}",
                 "command": "seal", "cabinet": None, "person_id": firm.paul.id,
                 "auth": {"method": "secret"}, "peer": "127.0.0.1",
                 "received_at": clock.now().isoformat()}, data)
    gw = await other_instance()  # now on the shared spool
    assert await wait_for(lambda: _answered("<left@dupont.fr>"))
    assert files.pending() == []
    assert await wait_for(lambda: _spool_is_empty())
    assert gw.spool.shared


async def _answered(message_id: str) -> bool:
    return await InboundMessage.filter(message_id=message_id).exists()
