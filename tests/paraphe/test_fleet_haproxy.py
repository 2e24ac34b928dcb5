"""Issue 19's acceptance test: three `paraphe serve` instances on one PostgreSQL behind
deploy/haproxy.cfg (used as it is), a mixed load through the balancer (mail to seal@ and
collect@, API seals, signers signing from their pages, a bot conversation over the fake Bot
API), one instance killed with kill -9 in the middle (the one polling Telegram), then: every
accepted mail answered once, every debit matched by one output, each sweep run once per
period, the bot answering within 30 s of the kill, the evidence chain intact and every
document readable from the database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import smtplib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest

from bot import sweeps as bot_sweeps
from mail_gateway.spool_db import LEASE
from tests.bot.fleet import Serve
from tests.cli import cli_env, paraphe
from tests.conftest import BACKEND, require_tool
from tests.fakes.smtp_sink import SmtpSink
from tests.fakes.telegram import FakeTelegram, User
from tests.paraphe.test_serve import free_port
from tests.pdfs import make_pdf
from workflows import billing, delegations, linking, mail_in, people, sweeps, terms
from workflows.actors import Actor
from workflows.document_stores import SharedDocumentStore
from workflows.models import Collection, Document, EvidenceEvent, LedgerEntry, Signer

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="several instances share one PostgreSQL: "
    "PARAPHE_TEST_DATABASE=postgres")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SEAL_MAILS, COLLECT_MAILS, API_SEALS = 8, 2, 8
SIGNERS_PER_COLLECTION = 2
# Mail the killed instance had accepted is processed by another once its claim on the shared
# spool lapses: within the lease and a minute (the survivors' polls, the work itself).
TAKEOVER = LEASE.total_seconds() + 60


class Instance(Serve):
    """One `paraphe serve` in its own session (kill -9 takes its signing workers too), its
    output (announces on stdout, JSON log lines on stderr) kept line by line."""

    stop_timeout = 40

    def __init__(self, number: int, proc: asyncio.subprocess.Process, web: int,
                 smtp: int) -> None:
        super().__init__(proc)
        self.number, self.web, self.smtp = number, web, smtp

    @classmethod
    async def start(cls, number: int, env: dict, home: Path) -> Instance:
        web, smtp = free_port(), free_port()
        home.mkdir()
        env = {**env, "PARAPHE_HOME": str(home), "PARAPHE_WEB_PORT": str(web),
               "PARAPHE_SMTP_PORT": str(smtp)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "paraphe.cli", "serve", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        return cls(number, proc, web, smtp)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    async def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.said(text):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"instance {self.number}: no {text!r} in:\n"
                                     + "\n".join(self.lines[-60:]))
            await asyncio.sleep(0.1)

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


async def _setup(settings) -> dict:
    """A cabinet with credit; an expert (collect@, the bot) and a collaborator holding `seal`
    (seal@), both writing from their secret addresses; the core's own calls, as the CLI's."""
    op = Actor.operator()
    cabinet = await people.create_cabinet(op, slug="flotte", name="Cabinet Flotte",
                                          siren="552100554")
    claire, _ = await people.add_person(op, email="claire@flotte.fr", name="Claire Flotte",
                                        cabinet="flotte", role="expert")
    paul, _ = await people.add_person(op, email="paul@flotte.fr", name="Paul Flotte",
                                      cabinet="flotte", role="collaborator")
    await terms.accept_terms(settings, Actor(claire.id, "cli"), cabinet,
                             settings.terms_version)
    await delegations.grant(op, paul, cabinet, "seal")
    await billing.add_credit(op, cabinet, 500)
    return {"claire": claire, "paul": paul,
            "seal_address": mail_in.address_for(settings, paul),
            "collect_address": mail_in.address_for(settings, claire, command="collect"),
            "link_code": (await linking.issue_link_code(claire)).code}


def _mail(sender: str, rcpt: str, message_id: str, subject: str, body: str,
          pdf: bytes) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="piece.pdf")
    return msg


def _send_until_accepted(port: int, msg: EmailMessage, sender: str, rcpt: str) -> int:
    """Sends as an MTA does: again (same Message-ID) until a 250, on any failure before it;
    returns the number of tries."""
    for attempt in range(1, 16):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.send_message(msg, from_addr=sender, to_addrs=[rcpt])
            return attempt
        except (OSError, smtplib.SMTPException):
            time.sleep(1)
    raise AssertionError(f"{msg['Message-ID']} never accepted")


def _http(url: str, form: dict | None = None) -> tuple[int, str]:
    """GET (or POST a form) without following redirects; (status, body); 502/503 and
    refused connections (an instance dying under the request) are tried again."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    data = urllib.parse.urlencode(form).encode() if form is not None else None
    for _ in range(15):
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        try:
            with urllib.request.build_opener(NoRedirect).open(request, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code not in (502, 503, 504):
                return exc.code, exc.read().decode(errors="replace")
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url}: no answer")


class Sink:
    """What the fake relay took, parsed: the replies, and the mails each signer received."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def parsed(self) -> list:
        return [message_from_bytes(data, policy=policy.default)
                for _f, _r, data in self.sink.messages]

    def to(self, address: str) -> list:
        return [m for m in self.parsed() if address in str(m["To"])]

    async def found(self, address: str, pattern: str, after: int = 0,
                    timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.to(address)[after:]:
                found = re.search(pattern, msg.get_body(preferencelist=("plain",)).get_content())
                if found:
                    return found[1]
            await asyncio.sleep(0.2)
        raise AssertionError(f"no mail to {address} matching {pattern!r}")


async def _sign(sink: Sink, lb_http: int, signer: str) -> None:
    """A signer opens the invitation's link, asks for a code by mail, reads it and signs."""
    link = await sink.found(signer, r"(http://\S+/s/[A-Za-z0-9_-]+)", timeout=TAKEOVER)
    assert link.startswith(f"http://127.0.0.1:{lb_http}/s/")
    status, _page = await asyncio.to_thread(_http, link)
    assert status == 200
    before = len(sink.to(signer))
    status, _ = await asyncio.to_thread(_http, link + "/code", {"channel": "mail"})
    assert status == 303
    code = await sink.found(signer, r"\b(\d{6})\b", after=before)
    status, body = await asyncio.to_thread(_http, link + "/sign",
                                           {"code": code, "consent": "yes"})
    # 303: signed; 409: the request had reached an instance that signed, then died.
    assert status in (303, 409), body


async def _api_seal(session: aiohttp.ClientSession, base: str, key: str, pdf: bytes,
                    idem: str) -> dict:
    """One API seal, tried again with its Idempotency-Key when the answer is lost."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idem,
               "Accept": "application/json"}
    for _ in range(15):
        form = aiohttp.FormData()
        form.add_field("file", pdf, filename="api.pdf", content_type="application/pdf")
        try:
            async with session.post(f"{base}/api/v1/seals", data=form,
                                    headers=headers) as resp:
                if resp.status == 201:
                    return await resp.json()
                assert resp.status in (502, 503, 504), await resp.text()
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    raise AssertionError(f"API seal {idem} never answered")


def _pdf_hashes(msg) -> list[str]:
    return [hashlib.sha256(part.get_content()).hexdigest() for part in msg.iter_attachments()
            if part.get_content_type() == "application/pdf"]


def _sweep_runs(instances: list[Instance]) -> dict[str, list[datetime]]:
    runs: dict[str, list[datetime]] = {}
    for instance in instances:
        for line in instance.logs():
            found = re.fullmatch(r"sweep (\w+): running for this period", line["message"])
            if found:
                at = datetime.strptime(line["time"], "%Y-%m-%d %H:%M:%S,%f")
                runs.setdefault(found[1], []).append(at)
    return runs


async def _until_holding_mail(instance: Instance, sending: asyncio.Future) -> bool:
    """Waits until `instance` has accepted more mail than it answered (its /metrics), or
    until `sending` ends; returns whether it holds some."""
    url = f"http://127.0.0.1:{instance.web}"
    while True:
        mails = (await asyncio.to_thread(scrape_labelled, url)).get("paraphe_mails_total", {})
        if mails.get("accepted", 0) > mails.get("answered", 0):
            return True
        if sending.done():
            sending.result()
            return False
        await asyncio.sleep(0.05)


def scrape_labelled(base_url: str) -> dict[str, dict[str, float]]:
    """paraphe_mails_total by outcome, from an instance's own /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "paraphe_mails_total":
                out.setdefault(sample.name, {})[sample.labels["outcome"]] = sample.value
    return out


async def _when_balanced(lb_http: int, lb_smtp: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = await asyncio.to_thread(_http, f"http://127.0.0.1:{lb_http}/healthz")
            with smtplib.SMTP("127.0.0.1", lb_smtp, timeout=5) as client:
                client.noop()
            if status == 200:
                return
        except (OSError, smtplib.SMTPException, AssertionError):
            pass
        assert time.monotonic() < deadline, "the balancer did not answer"
        await asyncio.sleep(0.5)


async def test_three_instances_behind_haproxy_lose_nothing_when_one_is_killed(
        settings, db, tmp_path):
    haproxy = require_tool("haproxy")
    started = time.monotonic()
    setup = await _setup(settings)
    tg = await FakeTelegram().start()
    relay = await SmtpSink().start()
    sink = Sink(relay)
    lb_http, lb_smtp, stats = free_port(), free_port(), free_port()
    env = cli_env(settings)
    env.update(PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{lb_http}", PARAPHE_LOG_FORMAT="json",
               PARAPHE_TRUSTED_PROXIES="127.0.0.1", PARAPHE_SMTP_PROXY_PROTOCOL="true",
               PARAPHE_SMTP_RELAY=relay.address, PARAPHE_TELEGRAM_TOKEN=tg.token,
               PARAPHE_TELEGRAM_API_BASE=tg.base_url)
    # All three at once on a database that has no trust service yet, as systemd starts them.
    instances = [await Instance.start(n, env, tmp_path / f"instance-{n}") for n in (1, 2, 3)]
    # Their ports are bound before the balancer starts: its health checks open connections
    # from ephemeral ports, which could take an instance's port before it binds it.
    try:
        for instance in instances:
            await instance.wait_for("Paraphe is running")
    except BaseException:
        for instance in instances:
            await instance.close()
        raise
    lb_env = {"PATH": "/usr/sbin:/usr/bin:/bin", "PARAPHE_LB_HOST": "127.0.0.1",
              "PARAPHE_LB_HTTP_PORT": str(lb_http), "PARAPHE_LB_SMTP_PORT": str(lb_smtp),
              "PARAPHE_LB_STATS_PORT": str(stats)}
    for instance in instances:
        lb_env[f"PARAPHE_WEB_{instance.number}"] = f"127.0.0.1:{instance.web}"
        lb_env[f"PARAPHE_SMTP_{instance.number}"] = f"127.0.0.1:{instance.smtp}"
    balancer = await asyncio.create_subprocess_exec(
        haproxy, "-db", "-f", str(DEPLOY / "haproxy.cfg"), env=lb_env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    killed_at, poller, api_key, signing = None, None, "-", []
    try:
        key = (await asyncio.to_thread(paraphe, settings, "apikey", "create", "flotte", "--as",
                                       "claire@flotte.fr", "--name", "Compta", "--scopes",
                                       "seal,read", "--json"))
        assert key.code == 0, key.err
        api_key = key.json()["key"]
        (poller,) = [i for i in instances if i.said("telegram bot: polling")]
        await _when_balanced(lb_http, lb_smtp)
        ready = time.monotonic()
        lb = f"http://127.0.0.1:{lb_http}"

        pdfs = [make_pdf(text=f"Piece {i}") for i in range(4)]
        seal_rcpt, collect_rcpt = setup["seal_address"], setup["collect_address"]
        seal_mails = [_mail("paul@flotte.fr", seal_rcpt, f"<seal-{i}@flotte.fr>",
                            f"Facture {i}", "Bonjour,\n", pdfs[i % 4])
                      for i in range(SEAL_MAILS)]
        signers = [[f"client{c}{s}@client.fr" for s in range(SIGNERS_PER_COLLECTION)]
                   for c in range(COLLECT_MAILS)]
        collect_mails = [_mail("claire@flotte.fr", collect_rcpt, f"<collect-{c}@flotte.fr>",
                               f"Lettre de mission {c}",
                               "Bonjour,\n\n" + "".join(f"Client {a} <{a}>\n" for a in who),
                               pdfs[c % 4])
                         for c, who in enumerate(signers)]

        async def send(msg, sender, rcpt):
            return await asyncio.to_thread(_send_until_accepted, lb_smtp, msg, sender, rcpt)

        claire_tg = User(7001, "Claire", language_code="fr")
        await tg.send_text(claire_tg, f"/start {setup['link_code']}")
        async with aiohttp.ClientSession() as session:
            half = SEAL_MAILS // 2
            # The first half of the load: in flight when the poller dies.
            first = [asyncio.create_task(send(m, "paul@flotte.fr", seal_rcpt))
                     for m in seal_mails[:half]]
            first += [asyncio.create_task(send(m, "claire@flotte.fr", collect_rcpt))
                      for m in collect_mails]
            api_first = [asyncio.create_task(_api_seal(session, lb, api_key, pdfs[i % 4],
                                                       f"api-{i}"))
                         for i in range(API_SEALS // 2)]
            await tg.next_in_chat(claire_tg.id, 0, timeout=60)  # Linked.
            # Killed while it holds mail it accepted (250 given) and has not answered yet.
            holding = await _until_holding_mail(poller, asyncio.gather(*first))
            await poller.kill()
            killed_at = time.monotonic()
            before = len(tg.chat(claire_tg.id))
            await tg.send_text(claire_tg, "/credit")
            # The second half, while the balancer finds out.
            later = [asyncio.create_task(send(m, "paul@flotte.fr", seal_rcpt))
                     for m in seal_mails[half:]]
            api_later = [asyncio.create_task(_api_seal(session, lb, api_key, pdfs[i % 4],
                                                       f"api-{i}"))
                         for i in range(API_SEALS // 2, API_SEALS)]
            signing = [asyncio.create_task(_sign(sink, lb_http, a))
                       for who in signers for a in who]
            await tg.next_in_chat(claire_tg.id, before, timeout=30)
            bot_answered_after = time.monotonic() - killed_at
            await asyncio.gather(*later)
            # Every accepted mail answered, exactly once (a few seconds more for a second one).
            ids = [str(m["Message-ID"]) for m in seal_mails + collect_mails]
            senders = {str(m["Message-ID"]): str(m["From"]) for m in seal_mails + collect_mails}

            def replies() -> dict[str, list]:
                found: dict[str, list] = {i: [] for i in ids}
                for msg in sink.parsed():
                    irt = str(msg["In-Reply-To"] or "")
                    if irt in found and senders[irt] in str(msg["To"]):
                        found[irt].append(msg)
                return found

            # What the killed instance accepted is taken over once its claim lapses.
            deadline = killed_at + TAKEOVER
            while not all(replies().values()):
                unanswered = [i for i, r in replies().items() if not r]
                assert time.monotonic() < deadline, f"accepted, never answered: {unanswered}"
                await asyncio.sleep(0.5)
            await asyncio.gather(*signing)
            api_results = await asyncio.gather(*api_first, *api_later)
        survivors = [i for i in instances if i is not poller]
        # The collections complete (the last signature seals the documents).
        deadline = time.monotonic() + 90
        while await Collection.filter(state="completed").count() < COLLECT_MAILS:
            assert time.monotonic() < deadline, await Collection.all().values("id", "state")
            await asyncio.sleep(0.5)
        # The sweep with the shortest period (60 s) ran at least once.
        deadline = time.monotonic() + 90
        while "expire_due" not in _sweep_runs(survivors + [poller]):
            assert time.monotonic() < deadline, "expire_due never ran"
            await asyncio.sleep(1)
        await asyncio.sleep(3)
        answered = replies()
        assert {i: len(r) for i, r in answered.items()} == {i: 1 for i in ids}
        for i in ids[:SEAL_MAILS]:
            assert len(_pdf_hashes(answered[i][0])) == 1, answered[i][0]

        # Every seal debit matched by one sealed output, delivered by mail or the API.
        debits = await LedgerEntry.filter(kind="debit", operation="seal").count()
        sealed = [e.data["sealed_sha256"]
                  for e in await EvidenceEvent.filter(kind="seal.applied")]
        delivered = [h for i in ids[:SEAL_MAILS] for h in _pdf_hashes(answered[i][0])]
        delivered += [r["sha256"] for r in api_results]
        assert debits == len(sealed) == SEAL_MAILS + API_SEALS
        assert sorted(sealed) == sorted(delivered)
        assert len(set(delivered)) == len(delivered)
        # Every signature captured once, for a signer who signed.
        captures = await LedgerEntry.filter(kind="capture").values_list("reference", flat=True)
        signed = await Signer.filter(state="signed").count()
        assert len(captures) == len(set(captures)) == signed == COLLECT_MAILS * \
            SIGNERS_PER_COLLECTION
        credit = await asyncio.to_thread(paraphe, settings, "credit", "show", "flotte", "--json")
        assert credit.code == 0, credit.err
        spent = SEAL_MAILS + API_SEALS + COLLECT_MAILS * SIGNERS_PER_COLLECTION
        assert credit.json()["available"] == 500 - spent and credit.json()["reserved"] == 0

        # The bot answered within 30 s of the kill, from the instance that took over.
        assert bot_answered_after < 30
        assert any(i.said("telegram polling: this instance was elected") for i in survivors)

        # Each sweep ran once per period across the fleet.
        periods = {**sweeps.SCHEDULE, **bot_sweeps.SCHEDULE}
        runs = _sweep_runs(instances)
        assert set(runs) <= set(periods) - sweeps.EVERY_INSTANCE
        for name, times in runs.items():
            times.sort()
            gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
            assert all(gap > periods[name] - 1 for gap in gaps), (name, times)
        # Every instance's scheduler fired it; the lease let one of them run it.
        fired = sum(1 for i in instances for line in i.logs()
                    if line["message"].startswith('Running job "expire_due '))
        assert fired >= 2 * len(runs["expire_due"]), (fired, runs["expire_due"])

        # The evidence chain intact; every document readable from the database alone.
        audit = await asyncio.to_thread(paraphe, settings, "audit", "verify")
        assert audit.code == 0 and "intact" in audit.out, audit.out + audit.err
        assert settings.document_store == "postgres"
        store = SharedDocumentStore(tmp_path / "reader")  # An empty cache: all from PG.
        for document in await Document.all():
            data = await store.read(document.sha256)
            assert hashlib.sha256(data).hexdigest() == document.sha256
        assert time.monotonic() - started < 330, "the test took too long"
        print(f"fleet test: the poller held unanswered mail when killed: {holding}; "
              f"ready after {ready - started:.0f} s, bot answered "
              f"{bot_answered_after:.1f} s after the kill, total {time.monotonic() - started:.0f}"
              f" s; sweeps {({k: len(v) for k, v in runs.items()})}, fired {fired}")
    finally:
        for task in signing:
            task.cancel()
        await asyncio.gather(*signing, return_exceptions=True)
        if balancer.returncode is None:
            balancer.terminate()
        await balancer.wait()
        for instance in instances:
            await instance.close()
            # Kept with the test's temporary files, for whoever reads a failure.
            (tmp_path / f"instance-{instance.number}.log").write_text("\n".join(instance.lines))
        await tg.close()
        await relay.close()
    for instance in instances:
        text = "\n".join(instance.lines)
        assert tg.token not in text and api_key not in text
        for address in (setup["seal_address"], setup["collect_address"]):
            assert address.split("@")[0].split("+")[1] not in text  # The mail-in secrets.
        if instance is not poller:
            assert instance.proc.returncode == 0, text[-4000:]
            # WeasyPrint 70 opens its sRGB profile and never closes it (weasyprint/pdf/
            # __init__.py): the workers, under PYTHONWARNINGS=error, print that one.
            text = re.sub(r"Exception ignored in: <_io.FileIO name='[^']*/weasyprint/pdf/"
                          r"sRGB2014.icc'.*?ResourceWarning: unclosed file <[^>]*>", "", text,
                          flags=re.DOTALL)
            where = text.find("Traceback")
            assert where < 0, text[max(0, where - 3000):where + 3000]
