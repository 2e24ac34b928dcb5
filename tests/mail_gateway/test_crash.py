"""`kill -9` of `paraphe serve` with mail in the spool: after a restart, one reply and one debit
each."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys

from mail_gateway.models import InboundMessage
from mail_gateway.spools import open_spool
from tests.cli import cli_env
from tests.mail_gateway.mailer import build, outbox, raw
from tests.pdfs import make_pdf
from workflows import billing, mail_in
from workflows.actors import Actor
from workflows.models import LedgerEntry, Notification

MAILS = 12
PDFS_PER_MAIL = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(settings, smtp_port: int, web_port: int) -> subprocess.Popen:
    env = cli_env(settings)
    env.update({"PARAPHE_SMTP_PORT": str(smtp_port), "PARAPHE_WEB_PORT": str(web_port),
                "PARAPHE_PUBLIC_URL": f"http://127.0.0.1:{web_port}"})
    return subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


async def _wait_listening(port: int, proc: subprocess.Popen) -> None:
    for _ in range(1200):
        assert proc.poll() is None, "paraphe serve exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the gateway did not start")


def _send_all(port: int, messages: list[bytes], rcpt: str) -> int:
    accepted = 0
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for data in messages:
            client.sendmail("paul@dupont.fr", [rcpt], data)
            accepted += 1
    return accepted


async def test_kill_9_with_mail_in_the_spool_then_restart(firm, settings, svc):
    await billing.add_credit(Actor.operator(), firm.dupont, 80)  # 100 in all
    rcpt = mail_in.address_for(settings, firm.paul)
    messages = [raw(build(sender="paul@dupont.fr", to=rcpt, subject=f"Lot {i}",
                          message_id=f"<crash-{i}@dupont.fr>",
                          attachments=[(f"doc-{i}-{j}.pdf", make_pdf(text=f"Doc {i} {j}"))
                                       for j in range(PDFS_PER_MAIL)]))
                for i in range(MAILS)]
    smtp_port, web_port = _free_port(), _free_port()
    spool = open_spool(settings)

    async def left() -> int:
        return sum(e.state == "pending" for e in await spool.entries())

    proc = _start(settings, smtp_port, web_port)
    try:
        await _wait_listening(smtp_port, proc)
        accepted = await asyncio.to_thread(_send_all, smtp_port, messages, rcpt)
        left_in_spool = await left()
        os.killpg(proc.pid, signal.SIGKILL)  # every 250 was answered; now the power goes out
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert accepted == MAILS
    assert left_in_spool > 0, "the test must kill the service while work is in the spool"

    proc = _start(settings, smtp_port, web_port)
    try:
        await _wait_listening(smtp_port, proc)
        for _ in range(2400):
            sent = await Notification.filter(state="sent").count()
            if sent >= MAILS and not await left():
                break
            await asyncio.sleep(0.05)
        # A redelivery of one of them after the restart changes nothing either.
        await asyncio.to_thread(_send_all, smtp_port, messages[:1], rcpt)
        for _ in range(600):
            if not await left():
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    replies = outbox(settings.home)
    assert sorted(r["In-Reply-To"] for r in replies) == sorted(
        f"<crash-{i}@dupont.fr>" for i in range(MAILS))
    assert all(len(list(r.iter_attachments())) == PDFS_PER_MAIL for r in replies), [
        r.get_body(preferencelist=("plain",)).get_content() for r in replies
        if len(list(r.iter_attachments())) != PDFS_PER_MAIL]
    assert await LedgerEntry.filter(kind="debit").count() == MAILS * PDFS_PER_MAIL
    assert await InboundMessage.filter(state="done").count() == MAILS
    assert await Notification.filter(channel="mail").count() == MAILS
    assert await billing.balance(firm.dupont) == 100 - MAILS * PDFS_PER_MAIL
