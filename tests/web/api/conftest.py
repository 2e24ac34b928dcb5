"""API fixtures: the real web app on a loopback port, two cabinets, their people and keys."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
import jsonschema_rs
import pytest

from paraphe import templating
from web.api import openapi
from workflows import apikeys, billing, delegations, people, terms
from workflows.actors import Actor

OP = Actor.operator()


@dataclass
class Api:
    svc: object
    base: str  # http://127.0.0.1:PORT/api/v1
    session: aiohttp.ClientSession
    keys: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def auth(self, name: str = "expert", **headers) -> dict:
        return {"Authorization": f"Bearer {self.keys[name]}", **headers}


def _operation(path: str, method: str) -> dict:
    return openapi.document()["paths"][path][method.lower()]


async def conforms(response: aiohttp.ClientResponse, path: str, method: str = "get"):
    """Checks a response against the served OpenAPI document; returns its parsed JSON (or bytes)."""
    responses = _operation(path, method)["responses"]
    spec = responses.get(str(response.status)) or responses.get("default")
    assert spec is not None, f"{method} {path}: status {response.status} is not documented"
    ctype = response.content_type
    assert ctype in spec["content"], (
        f"{method} {path}: {ctype} not documented for {response.status}")
    if ctype in ("application/json", "application/problem+json"):
        body = await response.json(content_type=None)
        schema = {**spec["content"][ctype]["schema"],
                  "components": openapi.document()["components"]}
        jsonschema_rs.validator_for(schema).validate(body)
        return body
    return await response.read()


async def _start(settings, rate_limit=None):
    from web.app import build_app
    from workflows.services import Services

    svc = await Services.start(settings, templating)
    # The real app, or one whose API has the test's rate limit.
    app = build_app(svc) if rate_limit is None else _app_with_limit(svc, rate_limit)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return svc, runner, port


async def stop_all(started) -> None:
    """Stops what `_start` started."""
    for svc, runner, _ in started:
        await runner.cleanup()
        await svc.close()


async def credit_status(session, base: str, key: str) -> tuple[int, str | None]:
    """GET /credit with `key`: the status and the Retry-After given (rate-limit tests)."""
    async with session.get(base + "/credit", headers={"Authorization": f"Bearer {key}"}) as r:
        await r.read()
        return r.status, r.headers.get("Retry-After")


def _app_with_limit(svc, rate_limit):
    from web import health
    from web.api_v1 import add_routes

    app = aiohttp.web.Application()
    health.add_routes(app, svc)
    add_routes(app, svc, rate_limit=rate_limit)
    return app


async def seed(settings) -> dict[str, str]:
    """Cabinets alpha (expert, collaborator without delegation, sealer) and beta; keys for each."""
    alpha = await people.create_cabinet(OP, slug="alpha", name="Cabinet Alpha",
                                         siren="552100554")
    beta = await people.create_cabinet(OP, slug="beta", name="Cabinet Beta", siren="732829320")
    await billing.add_credit(OP, alpha, 50)
    await billing.add_credit(OP, beta, 50)
    eve, _ = await people.add_person(OP, email="expert@alpha.test", name="Eve Expert",
                                     cabinet="alpha", role="expert")
    await people.add_person(OP, email="collab@alpha.test", name="Carl Collab", cabinet="alpha",
                            role="collaborator")
    sealer, _ = await people.add_person(OP, email="sealer@alpha.test", name="Sam Sealer",
                                        cabinet="alpha", role="collaborator")
    await delegations.grant(OP, sealer, alpha, "seal")
    bob, _ = await people.add_person(OP, email="expert@beta.test", name="Bob Beta",
                                     cabinet="beta", role="expert")
    for cabinet, expert in ((alpha, eve), (beta, bob)):
        await terms.accept_terms(settings, Actor(expert.id, "cli"), cabinet,
                                 settings.terms_version)
    keys = {}
    for name, cabinet, email, scopes in (
            ("expert", "alpha", "expert@alpha.test", None),
            ("collab", "alpha", "collab@alpha.test", None),
            ("sealer", "alpha", "sealer@alpha.test", None),
            ("readonly", "alpha", "expert@alpha.test", ["read"]),
            ("beta", "beta", "expert@beta.test", None)):
        created = await apikeys.create_key(OP, cabinet=cabinet, email=email, name=f"test {name}",
                                           scopes=scopes)
        keys[name] = created.token
    return keys


@pytest.fixture
async def api(settings, db):
    svc, runner, port = await _start(settings)
    keys = await seed(settings)
    async with aiohttp.ClientSession() as session:
        yield Api(svc=svc, base=f"http://127.0.0.1:{port}/api/v1", session=session, keys=keys)
    await runner.cleanup()
    await svc.close()


@pytest.fixture
async def limited_api(settings, db):
    from web.api.ratelimit import RateLimit

    svc, runner, port = await _start(settings, rate_limit=RateLimit(rate=0.5, burst=3))
    keys = await seed(settings)
    async with aiohttp.ClientSession() as session:
        yield Api(svc=svc, base=f"http://127.0.0.1:{port}/api/v1", session=session, keys=keys)
    await runner.cleanup()
    await svc.close()


def pdf_form(data: bytes, filename: str = "lettre.pdf", **fields) -> aiohttp.FormData:
    """A multipart body with the PDF in the part `file`, plus text fields."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/pdf")
    for name, value in fields.items():
        form.add_field(name, value)
    return form


def raw_multipart(data: bytes, filename: str = "big.pdf") -> tuple[bytes, dict]:
    """A multipart body as bytes (a FormData cannot be sent twice when the server cuts it short)."""
    boundary = "paraphe-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture
async def open_api(settings, db):
    """The API with a rate limit no fuzzer reaches (schemathesis, the benchmark)."""
    from web.api.ratelimit import RateLimit

    svc, runner, port = await _start(settings, rate_limit=RateLimit(rate=100000, burst=100000))
    keys = await seed(settings)
    async with aiohttp.ClientSession() as session:
        yield Api(svc=svc, base=f"http://127.0.0.1:{port}/api/v1", session=session, keys=keys)
    await runner.cleanup()
    await svc.close()
