"""`paraphe serve`: one process answering /healthz, stopped cleanly by SIGTERM and SIGINT."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cli import cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            streams = (proc.stdout, proc.stderr)
            said = "".join(stream.read() for stream in streams if stream is not None)
            raise AssertionError(f"serve exited early ({proc.returncode}): {said}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_health_and_stops_cleanly(settings, sig):
    env = cli_env(settings)
    web, smtp = free_port(), free_port()
    env.update(PARAPHE_WEB_PORT=str(web), PARAPHE_SMTP_PORT=str(smtp),
               PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{web}")
    proc = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = wait_http(f"http://127.0.0.1:{web}/healthz", proc)
        assert b'"status": "ok"' in body
        metrics = wait_http(f"http://127.0.0.1:{web}/metrics", proc).decode()
        assert "paraphe_evidence_events" in metrics
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Paraphe is running" in out and "stopping" in out
    assert "Traceback" not in out
    # The database and the trust service were created on first start.
    assert (settings.home / "keys").is_dir()


def test_serve_writes_json_log_lines_with_the_request_id(settings):
    """PARAPHE_LOG_FORMAT=json: every log line is one JSON object; a request's access line
    carries the id the answer gave."""
    import json

    env = cli_env(settings)
    web, smtp = free_port(), free_port()
    env.update(PARAPHE_WEB_PORT=str(web), PARAPHE_SMTP_PORT=str(smtp),
               PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{web}", PARAPHE_LOG_FORMAT="json")
    proc = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{web}/healthz", proc)
        request = urllib.request.Request(f"http://127.0.0.1:{web}/healthz",
                                         headers={"X-Request-Id": "probe-42"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.headers["X-Request-Id"] == "probe-42"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    (access,) = [x for x in lines if x.get("correlation_id") == "probe-42"]
    assert access["logger"] == "paraphe.web.access"
    assert access["message"].startswith("GET /healthz 200 ")
