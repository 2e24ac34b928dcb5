"""Several `paraphe serve` instances on one PostgreSQL for the benchmarks (bench/api.py and
bench/mail.py with --instances N): a fresh database, a cabinet set up once, N instances each
with its own PARAPHE_HOME and ports, and the CPU they use (each instance's process tree:
its main process, the forkserver and the signing workers)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.service_metrics import CPU, scrape

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "bench-master-key-" + "0" * 16
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(root: int) -> dict[int, float]:
    """User + system CPU seconds of process `root` and of each of its descendants (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, CPU seconds)
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # The process ended meanwhile.
            continue
        procs[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            found[pid] = procs[pid][1]
            todo += [child for child, (parent, _) in procs.items() if parent == pid]
    return found


async def _admin(pg_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(pg_url: str) -> str:
    """A fresh database on the server of `pg_url`; returns its URL."""
    name = f"paraphe_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(pg_url, f'CREATE DATABASE "{name}"'))
    return f"{pg_url.rsplit('/', 1)[0]}/{name}"


def drop_database(pg_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    asyncio.run(_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def setup_cabinet(database_url: str, home: Path, *, credit: int, api_keys: int,
                        slug: str = "bench") -> dict:
    """Migrates the database and makes the bench's cabinet: an expert (API keys), a
    collaborator holding `seal` (his secret mail-in address), credit."""
    sys.path.insert(0, str(ROOT))
    from paraphe.db import close_database, open_database
    from paraphe.settings import Settings
    from workflows import apikeys, billing, delegations, mail_in, people, terms
    from workflows.actors import Actor

    settings = Settings(home=home, database_url=database_url, master_key=MASTER_KEY)
    settings.ensure_home()
    await open_database(settings)
    try:
        op = Actor.operator()
        cabinet = await people.create_cabinet(op, slug=slug, name="Cabinet Bench",
                                               siren="552100554")
        expert, _ = await people.add_person(op, email=f"claire@{slug}.fr", name="Claire Bench",
                                            cabinet=slug, role="expert")
        paul, _ = await people.add_person(op, email=f"paul@{slug}.fr", name="Paul Bench",
                                          cabinet=slug, role="collaborator")
        await terms.accept_terms(settings, Actor(expert.id, "cli"), cabinet,
                                 settings.terms_version)
        await delegations.grant(op, paul, cabinet, "seal")
        await billing.add_credit(op, cabinet, credit)
        tokens = [(await apikeys.create_key(op, cabinet=slug, email=f"claire@{slug}.fr",
                                            name=f"client {i}", scopes=["seal"])).token
                  for i in range(api_keys)]
        return {"tokens": tokens, "seal_address": mail_in.address_for(settings, paul)}
    finally:
        await close_database()


@dataclass
class Instance:
    proc: subprocess.Popen
    web: int
    smtp: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web}"


@dataclass
class Fleet:
    """N instances of `paraphe serve` on one database."""

    database_url: str
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="paraphe-fleet-")))
    instances: list[Instance] = field(default_factory=list)

    def start(self, count: int, extra_env: dict | None = None) -> Fleet:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARAPHE_")}
        env.update({"PARAPHE_DATABASE_URL": self.database_url, "PARAPHE_MASTER_KEY": MASTER_KEY,
                    "PYTHONPATH": str(ROOT), **(extra_env or {})})
        for n in range(count):
            web, smtp = free_port(), free_port()
            home = self.folder / f"instance-{n + 1}"
            home.mkdir()
            proc = subprocess.Popen(
                [sys.executable, "-m", "paraphe.cli", "serve"], cwd=ROOT,
                env={**env, "PARAPHE_HOME": str(home), "PARAPHE_CONFIG": str(home / "absent"),
                     "PARAPHE_WEB_PORT": str(web), "PARAPHE_SMTP_PORT": str(smtp),
                     "PARAPHE_PUBLIC_URL": f"http://127.0.0.1:{web}"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            self.instances.append(Instance(proc, web, smtp))
        for instance in self.instances:
            self._wait(instance)
        return self

    @staticmethod
    def _wait(instance: Instance, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if instance.proc.poll() is not None:
                raise SystemExit(f"an instance exited with {instance.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{instance.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("an instance did not answer /healthz")

    def cpu(self) -> dict:
        """CPU seconds now, per instance: its main process and all its descendants."""
        return {i.proc.pid: cpu_seconds(i.proc.pid) for i in self.instances}

    def stop(self) -> None:
        for instance in self.instances:
            instance.proc.send_signal(signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(instance.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def scrape_all(urls: list[str]) -> list[dict[str, float]]:
    return [scrape(url) for url in urls]


def cpu_per_operation(metrics_before: list[dict], metrics_after: list[dict],
                      tree_before: dict | None, tree_after: dict | None,
                      operations: int) -> dict:
    """CPU ms per operation summed over every instance: their main processes (each one's
    /metrics process_cpu_seconds_total) and, for instances this bench started, everything
    they run (main process, forkserver, signing workers; /proc)."""
    if operations <= 0:
        return {}
    main = sum(a.get(CPU, 0.0) - b.get(CPU, 0.0) for b, a in zip(metrics_before, metrics_after,
                                                                 strict=True))
    out = {"main_processes": round(1000 * main / operations, 2)}
    if tree_before is not None and tree_after is not None:
        total = 0.0
        for pid, after in tree_after.items():
            before = tree_before.get(pid, {})
            total += sum(seconds - before.get(p, 0.0) for p, seconds in after.items())
        out["all_processes"] = round(1000 * total / operations, 2)
    return out
