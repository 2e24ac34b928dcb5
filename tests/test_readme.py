"""The README's shell blocks, run as printed against `paraphe demo` and `paraphe serve`.

Two substitutions only, both of things a reader's machine decides: `make demo` is `make
install` (done: the suite runs in that venv) then `paraphe demo`, so the block runs the
latter; and the service listens on free ports instead of 8080/2525, so that the suite's two
passes can run side by side. Between the curl session's two blocks the client signs from
their invitation, over HTTP, as the README says they do.
"""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from email import policy
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.paraphe.test_serve import free_port, wait_http
from tests.pdfs import make_pdf

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(after_heading: str) -> list[str]:
    """The ```sh blocks of the section under `after_heading` (up to the next heading)."""
    start = README.index(after_heading) + len(after_heading)
    following = re.compile(r"^#{2,6} ", re.MULTILINE).search(README, start)
    section = README[start:following.start() if following else None]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def _run(block: str, cwd: Path, env: dict, web_port: int) -> str:
    script = block.replace("make demo", ".venv/bin/paraphe demo").replace(
        "127.0.0.1:8080", f"127.0.0.1:{web_port}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README block failed:\n{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _outbox(home: Path) -> list:
    paths = sorted((home / "outbox").glob("*/*"), key=lambda p: p.name)
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]


def _found_in_mail(home: Path, address: str, pattern: str, timeout: float = 60) -> str:
    """The first group of `pattern` in the newest mail to `address` that holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in reversed(_outbox(home)):
            text = msg.get_body(preferencelist=("plain",)).get_content()
            found = re.search(pattern, text)
            if address in msg["To"] and found:
                return found[1]
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} matching {pattern!r}")


def _post(url: str, form: dict) -> int:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                     method="POST")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _sign_invitation(home: Path, signer: str) -> None:
    link = _found_in_mail(home, signer, r"(http://\S+/s/\S+)")
    assert _post(link + "/code", {"channel": "mail"}) == 303
    code = _found_in_mail(home, signer, r"\b(\d{6})\b")
    assert _post(link + "/sign", {"code": code, "consent": "yes"}) == 303


def _wait_completed(port: int, key: str, collection_id: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/collections/{collection_id}",
            headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            if json.load(resp)["state"] == "completed":
                return
        time.sleep(0.5)
    raise AssertionError("the collection did not complete")


@pytest.fixture
def service(tmp_path):
    """`paraphe serve` on its embedded defaults (./var in a fresh folder), free ports."""
    for tool in ("curl", "certutil", "pdfsig", "openssl"):
        require_tool(tool)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAPHE_")}
    web, smtp = free_port(), free_port()
    env.update(PARAPHE_WEB_PORT=str(web), PARAPHE_SMTP_PORT=str(smtp),
               PARAPHE_PUBLIC_URL=f"http://127.0.0.1:{web}")
    proc = subprocess.Popen([sys.executable, "-m", "paraphe.cli", "serve"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        wait_http(f"http://127.0.0.1:{web}/healthz", proc)
        yield tmp_path, env, web
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_trying_it_and_the_curl_session_work_as_printed(service):
    folder, env, port = service
    for name in ("letter.pdf", "facture.pdf", "lettre-de-mission.pdf"):
        (folder / name).write_bytes(make_pdf(text=name))

    (trying,) = _blocks("## Trying it")
    out = _run(trying, folder, env, port)
    assert "cabinet-demo" in out and "Signature is Valid" in out
    assert "Certificate is Trusted" in out

    before, after = _blocks("### A curl session")
    # The two blocks share one shell, as a reader's terminal does: the second one runs
    # after the first, with the client's signature in between.
    first = before + '\necho; echo "KEY=$KEY"; echo "ID=$ID"\n'
    out = _run(first, folder, env, port)
    key = re.search(r"^KEY=(\S+)$", out, re.MULTILINE)[1]
    collection_id = int(re.search(r"^ID=(\d+)$", out, re.MULTILINE)[1])
    assert (folder / "facture-scelle.pdf").read_bytes().startswith(b"%PDF")
    assert '"tariffs"' in out  # the credit answer, last before the echoes

    _sign_invitation(folder / "var", "claire@example.com")
    _wait_completed(port, key, collection_id)
    _run(f"KEY={key}\nAPI=http://127.0.0.1:8080/api/v1\nID={collection_id}\n" + after,
         folder, env, port)
    assert (folder / "signe.pdf").read_bytes().startswith(b"%PDF")
    assert (folder / "preuve.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((folder / "preuve.json").read_bytes())
