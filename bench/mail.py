"""Mail gateway benchmark: seal@ over SMTP on loopback against `paraphe serve`, printing one JSON.

N mails with a 1-page PDF (mails/s, p50/p95 from end of DATA to the reply in the outbox), one
10 MB PDF end to end, and the service's peak RSS with 5 concurrent 10 MB mails. SQLite, a
temporary PARAPHE_HOME, the secret address as sender authentication.

    python bench/mail.py [--mails 200] [--senders 4]
    python bench/mail.py --instances N [--pg-url URL] [--mails 200] [--senders 4]

With --instances N (issue 19) it starts N `paraphe serve` on a fresh PostgreSQL database
(bench/fleet.py), their replies sent through a relay this script runs; sender k writes to
instance k mod N, as a balancer spreads connections; it reports mails/s and the CPU per mail
summed over every instance (main processes from /metrics, everything from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fleet  # noqa: E402
from bench.service_metrics import STATEMENTS, per_operation, scrape  # noqa: E402
from tests.pdfs import make_pdf  # noqa: E402

TEN_MB = 10 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, smtp_port: int, web_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAPHE_")}
    env.update({"PARAPHE_HOME": str(home), "PARAPHE_SMTP_PORT": str(smtp_port),
                "PARAPHE_WEB_PORT": str(web_port), "PARAPHE_CONFIG": str(home / "absent.toml"),
                "PARAPHE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
                "PARAPHE_MASTER_KEY": "bench-master-key-0000000000000000"})
    return env


def _setup(env: dict) -> str:
    """A cabinet with credit and a collaborator holding `seal`; returns his secret address."""
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "paraphe.cli", *args], env=env, check=True,
                              capture_output=True, text=True).stdout
    cli("cabinet", "add", "bench", "--name", "Cabinet Bench", "--siren", "552100554")
    cli("user", "add", "paul@bench.fr", "--name", "Paul Bench", "--cabinet", "bench",
        "--role", "collaborator")
    cli("delegation", "grant", "paul@bench.fr", "--cabinet", "bench", "seal")
    # The cabinet opens once its expert has accepted the terms of use.
    cli("user", "add", "claire@bench.fr", "--name", "Claire Bench", "--cabinet", "bench",
        "--role", "expert")
    cli("terms", "accept", "bench", "--email", "claire@bench.fr")
    cli("credit", "add", "bench", "100000")
    return json.loads(cli("user", "show", "paul@bench.fr", "--json"))["mail_in_address"]


def _message(rcpt: str, index: int, pdf: bytes, tag: str) -> tuple[str, bytes]:
    msg = EmailMessage()
    msg["From"] = "paul@bench.fr"
    msg["To"] = rcpt
    msg["Subject"] = f"{tag} {index}"
    msg["Message-ID"] = message_id = f"<{tag}-{index}-{time.time_ns()}@bench.fr>"
    msg.set_content("Bonjour,\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{tag}-{index}.pdf")
    return message_id, msg.as_bytes(policy=policy.SMTP)


class Outbox:
    """Watches the Maildir: reply In-Reply-To -> the time its file was written (its mtime)."""

    def __init__(self, root: Path) -> None:
        self.new = root / "new"
        self.seen: dict[str, float] = {}
        self._names: set[str] = set()

    def scan(self) -> None:
        if not self.new.exists():
            return
        for path in self.new.iterdir():
            if path.name in self._names:
                continue
            with open(path, "rb") as fh:
                headers = BytesHeaderParser().parse(fh)
            self._names.add(path.name)
            self.seen[str(headers["In-Reply-To"])] = path.stat().st_mtime

    def wait(self, ids, timeout: float = 600) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.scan()
            if all(i in self.seen for i in ids):
                return {i: self.seen[i] for i in ids}
            time.sleep(0.005)
        raise SystemExit(f"timeout: {sum(i in self.seen for i in ids)}/{len(ids)} replies")


def _send_batch(port: int, rcpt: str, batch: list[tuple[str, bytes]]) -> dict[str, float]:
    started = {}
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
        for message_id, data in batch:
            started[message_id] = time.time()
            client.sendmail("paul@bench.fr", [rcpt], data)
    return started


def _send_paced(port: int, rcpt: str, messages, senders: int, rate: float) -> dict[str, float]:
    """Open loop: message k leaves at t0 + k/rate, whatever the replies do."""
    t0 = time.time() + 0.2

    def run(offset: int) -> dict[str, float]:
        started = {}
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            for k in range(offset, len(messages), senders):
                delay = t0 + k / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                message_id, data = messages[k]
                started[message_id] = time.time()
                client.sendmail("paul@bench.fr", [rcpt], data)
        return started

    started: dict[str, float] = {}
    with ThreadPoolExecutor(senders) as pool:
        for result in pool.map(run, range(senders)):
            started.update(result)
    return started


def _send_parallel(port: int, rcpt: str, messages, senders: int) -> dict[str, float]:
    batches = [messages[i::senders] for i in range(senders)]
    started: dict[str, float] = {}
    with ThreadPoolExecutor(senders) as pool:
        for result in pool.map(lambda b: _send_batch(port, rcpt, b), batches):
            started.update(result)
    return started


def _rss_kib(pid: int, field: str = "VmHWM") -> tuple[int, int]:
    """(peak RSS of the process, the sum of peak RSS of its children) in KiB."""
    def hwm(p):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    return hwm(pid), sum(hwm(int(c)) for c in children)


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Relay:
    """The instances' outgoing relay: reply In-Reply-To -> when it arrived."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.seen: dict[str, float] = {}
        relay = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                headers = BytesHeaderParser().parsebytes(envelope.original_content)
                relay.seen.setdefault(str(headers["In-Reply-To"]), time.time())
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=fleet.free_port())
        self.controller.start()
        self.address = f"127.0.0.1:{self.controller.port}"

    def wait(self, ids, timeout: float = 900) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(i in self.seen for i in ids):
                return {i: self.seen[i] for i in ids}
            time.sleep(0.01)
        raise SystemExit(f"timeout: {sum(i in self.seen for i in ids)}/{len(ids)} replies")

    def stop(self) -> None:
        self.controller.stop()


def _send_spread(ports: list[int], rcpt: str, messages, senders: int) -> dict[str, float]:
    """Sender k sends every senders-th message to instance k mod len(ports)."""
    batches = [(ports[k % len(ports)], messages[k::senders]) for k in range(senders)]
    started: dict[str, float] = {}
    with ThreadPoolExecutor(senders) as pool:
        for result in pool.map(lambda b: _send_batch(b[0], rcpt, b[1]), batches):
            started.update(result)
    return started


def run_fleet(args) -> dict:
    """seal@ mails spread over N instances on one PostgreSQL database."""
    import asyncio

    database_url = fleet.create_database(args.pg_url)
    relay, cluster = Relay(), None
    try:
        with tempfile.TemporaryDirectory(prefix="paraphe-bench-mail-") as tmp:
            info = asyncio.run(fleet.setup_cabinet(database_url, Path(tmp), credit=100000,
                                                   api_keys=0))
            rcpt = info["seal_address"]
            cluster = fleet.Fleet(database_url).start(
                args.instances, {"PARAPHE_SMTP_RELAY": relay.address})
            ports = [i.smtp for i in cluster.instances]
            urls = [i.url for i in cluster.instances]
            small = make_pdf(text="Lettre de mission")
            warm = [_message(rcpt, i, small, "warmup") for i in range(4 * len(ports))]
            _send_spread(ports, rcpt, warm, 2 * len(ports))
            relay.wait([m for m, _ in warm])
            mails = [_message(rcpt, i, small, "small") for i in range(args.mails)]
            metrics_before, tree_before = fleet.scrape_all(urls), cluster.cpu()
            started = _send_spread(ports, rcpt, mails, args.senders)
            written = relay.wait([m for m, _ in mails])
            tree_after, metrics_after = cluster.cpu(), fleet.scrape_all(urls)
    finally:
        if cluster is not None:
            cluster.stop()
        relay.stop()
        fleet.drop_database(args.pg_url, database_url)
    latencies = [(written[m] - started[m]) * 1000 for m, _ in mails]
    span = max(written.values()) - min(started.values())
    statements = sum(a.get(STATEMENTS, 0.0) - b.get(STATEMENTS, 0.0)
                     for b, a in zip(metrics_before, metrics_after, strict=True))
    return {
        "benchmark": "mail",
        "database": "postgres",
        "instances": args.instances,
        "auth": "secret address",
        "mails": args.mails,
        "senders": args.senders,
        "mails_per_second": round(args.mails / span, 1),
        "saturated_latency_ms": {"p50": round(statistics.median(latencies), 1),
                                 "p95": round(_pct(latencies, 0.95), 1)},
        "statements_per_op": round(statements / args.mails, 1),
        "cpu_ms_per_mail": fleet.cpu_per_operation(metrics_before, metrics_after, tree_before,
                                                   tree_after, args.mails),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0, help="mails/s of the latency run")
    parser.add_argument("--instances", type=int, default=0,
                        help="start N `paraphe serve` on a fresh PostgreSQL database")
    parser.add_argument("--pg-url", default=fleet.DEFAULT_PG,
                        help="the server where --instances creates its database")
    args = parser.parse_args()
    if args.instances:
        print(json.dumps(run_fleet(args), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="paraphe-bench-mail-") as tmp:
        home = Path(tmp) / "home"
        smtp_port, web_port = _free_port(), _free_port()
        env = _env(home, smtp_port, web_port)
        rcpt = _setup(env)
        proc = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            outbox = Outbox(home / "outbox")
            small = make_pdf(text="Lettre de mission")
            warm = [_message(rcpt, i, small, "warmup") for i in range(8)]
            _send_parallel(smtp_port, rcpt, warm, 2)
            outbox.wait([m for m, _ in warm])

            idle_kib = _rss_kib(proc.pid, "VmRSS")[0]
            # Throughput: the senders push as fast as the gateway takes mail.
            mails = [_message(rcpt, i, small, "small") for i in range(args.mails)]
            web = f"http://127.0.0.1:{web_port}"
            before = scrape(web)
            started = _send_parallel(smtp_port, rcpt, mails, args.senders)
            written = outbox.wait([m for m, _ in mails])
            costs = per_operation(before, scrape(web), len(mails))
            saturated = [(written[m] - started[m]) * 1000 for m, _ in mails]
            span = max(written.values()) - min(started.values())
            # Latency: mails arriving at a sustained rate (open loop).
            paced = [_message(rcpt, i, small, "paced") for i in range(args.mails)]
            paced_started = _send_paced(smtp_port, rcpt, paced, args.senders, args.rate)
            paced_written = outbox.wait([m for m, _ in paced])
            latencies = [(paced_written[m] - paced_started[m]) * 1000 for m, _ in paced]
            paced_span = max(paced_written.values()) - min(paced_started.values())

            big_pdf = make_pdf(text="Grand livre", image_bytes=TEN_MB - 64 * 1024)
            big = [_message(rcpt, 0, big_pdf, "big")]
            big_started = _send_batch(smtp_port, rcpt, big)
            big_written = outbox.wait([big[0][0]])
            big_seconds = big_written[big[0][0]] - big_started[big[0][0]]

            five = [_message(rcpt, i, big_pdf, "five") for i in range(5)]
            five_started = _send_parallel(smtp_port, rcpt, five, 5)
            five_written = outbox.wait([m for m, _ in five])
            main_kib, children_kib = _rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    result = {
        "benchmark": "mail",
        "database": "sqlite",
        "auth": "secret address",
        "mails": args.mails,
        "senders": args.senders,
        "mails_per_second": round(args.mails / span, 1),
        # Of the main process (SMTP, routing, database); the signing workers are apart.
        **costs,
        "saturated_latency_ms": {"p50": round(statistics.median(saturated), 1),
                                 "p95": round(_pct(saturated, 0.95), 1)},
        "paced": {"rate": args.rate, "achieved_mails_per_second": round(args.mails / paced_span, 1),
                  "latency_ms": {"p50": round(statistics.median(latencies), 1),
                                 "p95": round(_pct(latencies, 0.95), 1),
                                 "max": round(max(latencies), 1)}},
        "pdf_10mb": {"bytes": len(big_pdf), "end_to_end_s": round(big_seconds, 3)},
        "five_10mb_concurrent": {
            "end_to_end_s": round(max(five_written.values()) - min(five_started.values()), 3),
            "idle_rss_mb": round(idle_kib / 1024, 1),
            "peak_rss_mb": round(main_kib / 1024, 1),
            "peak_rss_children_mb": round(children_kib / 1024, 1)},
        # Issue 21's (2 cores, SQLite, quiet machine; p95 paced at 50 mails/s).
        "targets": {"mails_per_second": ">= 130", "p95_ms": "<= 60", "pdf_10mb_s": "<= 0.4",
                    "peak_rss_mb": "<= 200"},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
