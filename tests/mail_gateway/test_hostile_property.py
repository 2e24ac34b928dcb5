"""Property: every mail the gateway accepts with 250 is answered once, ignored as a robot, or
quarantined with a reason.

Hypothesis generates batches of hostile and broken mails (tests/mail_gateway/mail_strategies.py)
sent with smtplib over one connection per batch to the real gateway, which runs on the test's
loop; the hypothesis engine runs in a thread, so smtplib blocks nothing. After each batch:
each accepted mail settled within a bounded time (one reply recorded and in the outbox, or
ignored as a robot, or quarantined with its reason), debits equal sealed files, no spool file
is older than the retry deadline, and the gateway still answers.

PARAPHE_PROPERTY_MAILS (default 1000 per database pass, so 2000 per CI run) sets how many
mails are generated; raise it to search longer.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import smtplib
from collections import Counter

from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mail_gateway.mime import content_sha256
from mail_gateway.models import InboundMessage
from mail_gateway.spools import age_seconds
from tests.mail_gateway import mail_strategies
from workflows import billing, clock
from workflows.actors import Actor
from workflows.models import LedgerEntry, Notification

MAILS = int(os.environ.get("PARAPHE_PROPERTY_MAILS", "1000"))
BATCH = 25
REPLY_KINDS = ("reply", "unreadable", "failed")


async def _waiting(spool) -> list:
    return [e for e in await spool.entries() if e.state == "pending"]


async def _settle(hashes: dict, spool, timeout: float) -> dict:
    """Waits until every accepted mail has its final record, its replies went out and the
    spool is empty; returns the records by content hash."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await InboundMessage.filter(content_sha256__in=list(hashes),
                                           state__in=("done", "quarantined"))
        final = {row.content_sha256: row for row in rows}
        if len(final) == len(hashes) and not await _waiting(spool):
            keys = [f"mail:{row.key}:{kind}" for row in rows for kind in REPLY_KINDS]
            if not await Notification.filter(dedup_key__in=keys).exclude(state="sent").exists():
                return final
        if loop.time() > deadline:
            missing = [hashes[h].raw[:400] for h in hashes if h not in final]
            raise AssertionError(f"{len(missing)} accepted mails not settled in {timeout:.0f}s "
                                 f"({len(await _waiting(spool))} in the spool): {missing[:3]!r}")
        await asyncio.sleep(0.1)


async def _check(hashes: dict, gateway, settings, stats: Counter) -> None:
    spool = gateway.spool
    final = await _settle(hashes, spool, timeout=60 + 2 * len(hashes))
    keys = [f"mail:{row.key}:{kind}" for row in final.values() for kind in REPLY_KINDS]
    notes: dict[str, list] = {}
    for note in await Notification.filter(dedup_key__in=keys):
        notes.setdefault(note.dedup_key.rsplit(":", 1)[0], []).append(note)
    maildir = gateway.delivery.senders["mail"].maildir
    for digest, mail in hashes.items():
        row = final[digest]
        answers = notes.get(f"mail:{row.key}", [])
        shown = mail.raw[:600]
        if mail.robot:
            assert answers == [], f"a robot's mail was answered: {shown!r}"
            assert not row.outcome.get("sealed"), f"a robot's mail was billed: {shown!r}"
            stats["robot"] += 1
        elif row.state == "quarantined":
            assert row.outcome["quarantined"]["reason"], shown
            assert len(answers) == 1, f"quarantined, answered {len(answers)} times: {shown!r}"
            stats["quarantined"] += 1
        else:
            assert "reply" in row.outcome, f"neither answered nor quarantined: {shown!r}"
            assert len(answers) == 1, f"answered {len(answers)} times: {shown!r}"
            stats[row.outcome["reply"]] += 1
            stats["sealed"] += row.outcome.get("sealed", 0)
        for note in answers:
            assert maildir.contains(maildir.name_for(note, note.message_id)), shown
    # Debits equal sealed files, over everything processed so far.
    sealed = sum(r.outcome.get("sealed", 0) for r in await InboundMessage.all())
    assert await LedgerEntry.filter(kind="debit").count() == sealed
    deadline = settings.mail_retry_hours * 3600
    entries = await spool.entries()
    assert all(age_seconds(e.envelope, clock.now()) < deadline for e in entries
               if e.state == "pending")
    for entry in entries:
        if entry.state == "quarantined":
            assert (entry.reason or {}).get("reason"), entry.id
    assert len(maildir.messages()) == await Notification.filter(channel="mail",
                                                                state="sent").count()


async def test_every_accepted_mail_is_answered_once_ignored_or_quarantined(
        gateway, firm, settings):
    await billing.add_credit(Actor.operator(), firm.dupont, 1_000_000)
    loop = asyncio.get_running_loop()
    secret_of = {"paul@dupont.fr": firm.secret(firm.paul),
                 "claire@dupont.fr": firm.secret(firm.claire)}
    sequence = itertools.count()
    stats: Counter = Counter()

    @hypothesis_settings(max_examples=-(-MAILS // BATCH), deadline=None, database=None,
                         phases=(Phase.explicit, Phase.generate), report_multiple_bugs=False,
                         suppress_health_check=list(HealthCheck))
    @given(st.lists(mail_strategies.mail(secret_of), min_size=BATCH, max_size=BATCH))
    def batch(mails):
        hashes = {}
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as client:
            for mail in mails:
                mail.raw = b"X-Test-Seq: %d\r\n" % next(sequence) + mail.raw
                try:
                    client.sendmail(mail.mail_from, [f"{mail.command}@paraphe.localhost"],
                                    mail.raw)
                except (smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused,
                        smtplib.SMTPSenderRefused) as refused:
                    stats[f"refused {getattr(refused, 'smtp_code', '5xx')}"] += 1
                    continue
                hashes[content_sha256(mail.raw)] = mail
            assert client.noop()[0] == 250  # the service is still up
        stats["accepted"] += len(hashes)
        asyncio.run_coroutine_threadsafe(_check(hashes, gateway, settings, stats),
                                         loop).result(timeout=900)

    await asyncio.to_thread(batch)
    print(dict(stats))
    assert stats["accepted"] >= MAILS * 0.8, stats
    assert gateway.server.is_serving()
