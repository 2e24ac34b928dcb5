"""`kill -9` of `paraphe serve` during an API seal: after a restart, a retry with the same
Idempotency-Key gets the seal, billed once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys

import aiohttp

from tests.cli import cli_env
from tests.pdfs import make_pdf
from tests.web.api.conftest import seed
from workflows import billing, people
from workflows.models import ApiIdempotency, LedgerEntry

KEY = "invoice-crash-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(settings, web_port: int) -> subprocess.Popen:
    env = cli_env(settings)
    env.update({"PARAPHE_SMTP_PORT": str(_free_port()), "PARAPHE_WEB_PORT": str(web_port),
                "PARAPHE_PUBLIC_URL": f"http://127.0.0.1:{web_port}"})
    return subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


async def _wait_healthy(session: aiohttp.ClientSession, base: str, proc) -> None:
    for _ in range(1200):
        assert proc.poll() is None, "paraphe serve exited"
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{base}/healthz") as r:
                if r.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise AssertionError("paraphe serve did not answer")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)  # Reaped: the claim's process is gone, not a zombie.


async def _seal(session, base: str, token: str, pdf: bytes):
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(pdf), filename="facture.pdf",
                   content_type="application/pdf")
    async with session.post(f"{base}/api/v1/seals", data=form, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": KEY}) as r:
        return r.status, await r.json(content_type=None), r.headers.get("Idempotent-Replayed")


async def test_kill_9_during_an_api_seal_then_retry_with_the_same_key(settings, db):
    token = (await seed(settings))["expert"]
    # A large PDF, so that the seal is still running when the claim is seen.
    pdf = make_pdf(1, text="Facture", image_bytes=6 * 1024 * 1024)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        proc = _start(settings, port)
        try:
            await _wait_healthy(session, base, proc)
            first = asyncio.create_task(_seal(session, base, token, pdf))
            while not await ApiIdempotency.filter(key=KEY).exists():
                assert not first.done(), first.result()
                await asyncio.sleep(0.002)
            _kill(proc)  # The power goes out in the middle of the seal.
            with contextlib.suppress(aiohttp.ClientError):
                await first
        finally:
            _kill(proc)
        claim = await ApiIdempotency.get(key=KEY)
        assert claim.status is None  # Left claimed by a process that is gone.

        proc = _start(settings, port)
        try:
            await _wait_healthy(session, base, proc)
            status, body, _ = await _seal(session, base, token, pdf)
            assert status == 201, body
            again = await _seal(session, base, token, pdf)
        finally:
            _kill(proc)
    assert again == (201, body, "true")
    assert await LedgerEntry.filter(kind="debit").count() == 1
    assert await billing.balance(await people.get_cabinet("alpha")) == 49
