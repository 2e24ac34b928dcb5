"""deploy/haproxy.cfg used as it is, in front of a `paraphe serve` set up as deploy/ says
(PARAPHE_TRUSTED_PROXIES, PARAPHE_SMTP_PROXY_PROTOCOL, JSON logs): HTTP through the balancer
carries its X-Request-Id into the instance's log lines, and a mail sent to the balancer's
SMTP port reaches the instance behind its PROXY header and is answered sealed."""

from __future__ import annotations

import csv
import io
import json
import smtplib
import subprocess
import sys
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from tests.cli import cli_env, paraphe
from tests.conftest import require_tool
from tests.paraphe.test_serve import free_port, wait_http
from tests.pdfs import make_pdf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _ok(result):
    assert result.code == 0, result.err
    return result


def _secret_address(settings) -> str:
    """A cabinet with credit, an expert who accepted the terms, a collaborator with `seal`."""
    _ok(paraphe(settings, "cabinet", "add", "lb", "--name", "Cabinet LB", "--siren",
                "552100554"))
    _ok(paraphe(settings, "user", "add", "claire@lb.fr", "--name", "Claire LB", "--cabinet",
                "lb", "--role", "expert"))
    _ok(paraphe(settings, "terms", "accept", "lb", "--email", "claire@lb.fr"))
    _ok(paraphe(settings, "user", "add", "paul@lb.fr", "--name", "Paul LB", "--cabinet", "lb",
                "--role", "collaborator"))
    _ok(paraphe(settings, "delegation", "grant", "paul@lb.fr", "--cabinet", "lb", "seal"))
    _ok(paraphe(settings, "credit", "add", "lb", "10"))
    return _ok(paraphe(settings, "user", "show", "paul@lb.fr", "--json")).json()[
        "mail_in_address"]


def _when_checked(stats: int, timeout: float = 60) -> None:
    """Until the balancer's health checks found instance 1 up and 2 and 3 down, in both
    backends (HAProxy presumes a server up until its checks fail: a connection sent to a
    missing instance meanwhile, then redispatched to the other missing one, is closed)."""
    deadline = time.monotonic() + timeout
    wanted = {"paraphe1": "UP", "paraphe2": "DOWN", "paraphe3": "DOWN"}
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{stats}/;csv", timeout=5) as resp:
                rows = list(csv.DictReader(io.StringIO(resp.read().decode().lstrip("# "))))
            seen = {(row["pxname"], row["svname"]): row["status"] for row in rows}
            if all(seen.get((backend, server)) == state for server, state in wanted.items()
                   for backend in ("paraphe_web", "paraphe_smtp")):
                return
        except OSError:
            seen = {}
        assert time.monotonic() < deadline, f"the balancer's checks did not settle: {seen}"
        time.sleep(0.3)


def test_the_haproxy_configuration_of_deploy_runs_in_front_of_an_instance(settings):
    haproxy = require_tool("haproxy")
    check = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    secret = _secret_address(settings)
    web, smtp, lb_http, lb_smtp, stats = (free_port() for _ in range(5))
    env = cli_env(settings)
    env.update(PARAPHE_WEB_PORT=str(web), PARAPHE_SMTP_PORT=str(smtp),
               PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{lb_http}", PARAPHE_LOG_FORMAT="json",
               PARAPHE_TRUSTED_PROXIES="127.0.0.1", PARAPHE_SMTP_PROXY_PROTOCOL="true")
    lb_env = {"PATH": "/usr/sbin:/usr/bin:/bin", "PARAPHE_LB_HOST": "127.0.0.1",
              "PARAPHE_LB_HTTP_PORT": str(lb_http), "PARAPHE_LB_SMTP_PORT": str(lb_smtp),
              "PARAPHE_LB_STATS_PORT": str(stats),
              "PARAPHE_WEB_1": f"127.0.0.1:{web}", "PARAPHE_SMTP_1": f"127.0.0.1:{smtp}"}
    # Instances 2 and 3 are not started: the balancer finds them down and skips them.
    for n in (2, 3):
        lb_env[f"PARAPHE_WEB_{n}"] = f"127.0.0.1:{free_port()}"
        lb_env[f"PARAPHE_SMTP_{n}"] = f"127.0.0.1:{free_port()}"
    service = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    balancer = None
    try:
        # The instance binds its ports before the balancer starts: the balancer's health
        # checks open connections from ephemeral ports, which could take the instance's.
        wait_http(f"http://127.0.0.1:{web}/healthz", service)
        balancer = subprocess.Popen([haproxy, "-db", "-f", str(DEPLOY / "haproxy.cfg")],
                                    env=lb_env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        _when_checked(stats)
        # Through the balancer: an id is given to the request and returned by the instance.
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{lb_http}/healthz",
                                            timeout=5) as response:
                    request_id = response.headers["X-Request-Id"]
                    break
            except OSError:
                assert time.monotonic() < deadline, "the balancer did not answer"
                time.sleep(0.3)
        assert request_id
        # A mail to the balancer's SMTP port: sealed and answered by the instance.
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "paul@lb.fr", secret, "Facture"
        msg["Message-ID"] = "<lb-1@lb.fr>"
        msg.set_content("Bonjour,\n")
        msg.add_attachment(make_pdf(text="Facture"), maintype="application", subtype="pdf",
                           filename="facture.pdf")
        with smtplib.SMTP("127.0.0.1", lb_smtp, timeout=60) as client:
            client.send_message(msg, from_addr="paul@lb.fr", to_addrs=[secret])
        outbox = settings.home / "outbox" / "new"
        deadline = time.monotonic() + 60
        while not (outbox.exists() and any(outbox.iterdir())):
            assert time.monotonic() < deadline, "no reply in the outbox"
            time.sleep(0.2)
        (reply,) = list(outbox.iterdir())
        assert b"facture-scelle.pdf" in reply.read_bytes()
    finally:
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=30)
        service.terminate()
        _out, err = service.communicate(timeout=60)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    (access,) = [x for x in lines if x.get("correlation_id") == request_id]
    assert access["message"].startswith("GET /healthz 200 ")
    assert any(x["message"].startswith("message processed: sender/sealed") for x in lines)
