"""Under umask 022, `paraphe serve` sealing a mail leaves nothing readable by other local users:
PARAPHE_HOME and its folders 0700, every file it wrote 0600 (database, WAL, documents, spool,
outbox, keys)."""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import cli_env, paraphe
from tests.conftest import BACKEND
from tests.mail_gateway.mailer import build, outbox, raw
from tests.paraphe.test_serve import free_port, wait_http
from tests.pdfs import make_pdf


def ok(result):
    assert result.code == 0, result.err
    return result


def _modes(home: Path) -> dict[str, str]:
    """Every path under `home` (itself included) with its permission bits, in octal."""
    found = {".": oct(stat.S_IMODE(home.stat().st_mode))}
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(home))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def _open_to_others(home: Path) -> dict[str, str]:
    wrong = {}
    for name, mode in _modes(home).items():
        path = home / name
        wanted = "0o700" if path.is_dir() else "0o600"
        if mode != wanted:
            wrong[name] = mode
    return wrong


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_seal_by_mail_under_umask_022_writes_only_private_files(
        settings, database_url, tmp_path, umask_022):
    home = tmp_path / "operator-home"
    home.mkdir()  # As an operator would, under umask 022: 0755.
    assert stat.S_IMODE(home.stat().st_mode) == 0o755
    url = database_url if BACKEND == "postgres" else f"sqlite://{home / 'paraphe.sqlite3'}"
    s = settings.model_copy(update={"home": home, "database_url": url})
    ok(paraphe(s, "cabinet", "add", "dupont", "--name", "Cabinet Dupont",
               "--siren", "552100554"))
    ok(paraphe(s, "user", "add", "expert@dupont.fr", "--name", "Claire Dupont",
               "--cabinet", "dupont", "--role", "expert"))
    ok(paraphe(s, "credit", "add", "dupont", "5"))
    ok(paraphe(s, "terms", "accept", "dupont", "--email", "expert@dupont.fr"))
    address = ok(paraphe(s, "user", "show", "expert@dupont.fr", "--json")).json()[
        "mail_in_address"]

    env = cli_env(s)
    web, smtp = free_port(), free_port()
    env.update(PARAPHE_WEB_PORT=str(web), PARAPHE_SMTP_PORT=str(smtp),
               PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{web}")
    # Its own session, so that a failed test ends the signing workers with it: they hold the
    # output pipe, and would keep a plain kill's communicate() waiting.
    proc = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{web}/healthz", proc)
        message = raw(build(sender="expert@dupont.fr", to=address, subject="Statuts",
                            message_id="<modes-1@dupont.fr>",
                            attachments=[("statuts.pdf", make_pdf(text="Statuts"))]))
        with smtplib.SMTP("127.0.0.1", smtp, timeout=60) as client:
            client.sendmail("expert@dupont.fr", [address], message)
        deadline = time.monotonic() + 120
        while not outbox(home) and time.monotonic() < deadline:
            time.sleep(0.1)
        replies = outbox(home)
        assert len(replies) == 1 and replies[0]["In-Reply-To"] == "<modes-1@dupont.fr>"
        assert len(list(replies[0].iter_attachments())) == 1  # The sealed PDF.
        running = _modes(home)
        wrong_while_running = _open_to_others(home)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None or proc.stdout and not proc.stdout.closed:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    # What a seal wrote, checked while the service ran (SQLite's WAL and SHM exist then).
    assert wrong_while_running == {}
    written = set(running)
    assert any(n.startswith("documents/") and n.endswith(".pdf") for n in written), written
    assert any(n.startswith("outbox/") and not n.endswith(("new", "cur", "tmp"))
               for n in written), written
    assert any(n.startswith("keys/") for n in written), written
    if BACKEND == "sqlite":
        assert {"paraphe.sqlite3", "paraphe.sqlite3-wal", "paraphe.sqlite3-shm"} <= written
    assert running["."] == "0o700"
    assert _open_to_others(home) == {}


async def test_a_home_made_by_an_earlier_version_is_closed_at_start(settings, umask_022):
    from paraphe.db import close_database, open_database

    home = settings.home
    for folder in (home, home / "documents", home / "outbox"):
        folder.chmod(0o755)
    if BACKEND == "sqlite":
        # 0644, as SQLite made it under umask 022 (the test's database file, copied from a
        # migrated one, is already there).
        (home / "paraphe.sqlite3").touch()
        (home / "paraphe.sqlite3").chmod(0o644)
        assert stat.S_IMODE((home / "paraphe.sqlite3").stat().st_mode) == 0o644
    await open_database(settings)
    try:
        assert _open_to_others(home) == {}
    finally:
        await close_database()
