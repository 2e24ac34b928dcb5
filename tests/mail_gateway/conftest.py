"""Fixtures of the mail gateway tests: a firm, an offline DNS with DKIM keys, the running
gateway."""

from __future__ import annotations

import urllib.parse

import aiohttp
import pytest

from tests.dispatching import mail_dispatcher
from mail_gateway.metrics import spool_metrics
from mail_gateway.server import start_gateway
from paraphe import templating
from tests.fakes.dns import FakeDns, make_dkim_key
from workflows import billing, delegations, mail_in, people, terms
from workflows.actors import Actor

DOMAIN = "paraphe.localhost"


@pytest.fixture(scope="session")
def dupont_key():
    return make_dkim_key("dupont.fr", "mail")


@pytest.fixture
def dns(dupont_key):
    fake = FakeDns()
    fake.publish(dupont_key)
    return fake


@pytest.fixture
async def svc(db, settings):
    from workflows.services import Services

    # These tests count the replies in the outbox; a low-credit notice to the expert when the
    # 20 credits of dupont go below the default threshold would be one more mail. The notice
    # has its own tests (tests/workflows/test_low_credit.py, tests/bot/test_notices.py).
    settings.low_credit_threshold = 0
    services = await Services.start(settings, templating)
    yield services
    await services.close()


class Firm:
    """Cabinet dupont (credit 20) and martin (no credit).

    paul@dupont.fr: collaborator of dupont with `seal`, writes in English.
    claire@dupont.fr: expert of dupont and of martin (so her cabinet is ambiguous).
    nadia@dupont.fr: collaborator of dupont without any delegation.
    """

    def __init__(self, dupont, martin, paul, claire, nadia, settings) -> None:
        self.dupont, self.martin = dupont, martin
        self.paul, self.claire, self.nadia = paul, claire, nadia
        self.settings = settings

    def secret(self, person) -> str:
        """The person's secret mail-in tag (seal+<tag>@…), derived from the master key."""
        return mail_in.secret_for(self.settings, person)


@pytest.fixture
async def firm(svc):
    op = Actor.operator()
    dupont = await people.create_cabinet(op, slug="dupont", name="Cabinet Dupont",
                                         siren="552100554")
    martin = await people.create_cabinet(op, slug="martin", name="Cabinet Martin",
                                         siren="732829320")
    await billing.add_credit(op, dupont, 20)
    paul, _ = await people.add_person(op, email="paul@dupont.fr", name="Paul Martin",
                                      cabinet="dupont", role="collaborator", language="en")
    await delegations.grant(op, paul, dupont, "seal")
    claire, _ = await people.add_person(op, email="claire@dupont.fr", name="Claire Dupont",
                                        cabinet="dupont", role="expert")
    await people.add_person(op, email="claire@dupont.fr", name="Claire Dupont",
                            cabinet="martin", role="expert")
    nadia, _ = await people.add_person(op, email="nadia@dupont.fr", name="Nadia Benali",
                                       cabinet="dupont", role="collaborator")
    for cabinet in (dupont, martin):
        await terms.accept_terms(svc, Actor(claire.id, "cli"), cabinet, svc.settings.terms_version)
    return Firm(dupont, martin, paul, claire, nadia, svc.settings)


@pytest.fixture
async def gateway(svc, dns):
    svc.settings.smtp_port = 0
    gw = await start_gateway(svc, dns=dns)
    worker = mail_dispatcher(svc, poll_interval=0.2)
    worker.start()
    gw.delivery = worker
    yield gw
    await worker.stop()
    await gw.close()


@pytest.fixture
async def web_site(svc, settings):
    """The real web app (signer pages, /metrics) at the settings' public URL, and a client."""
    from web.app import build_app

    url = urllib.parse.urlsplit(settings.public_url)
    runner = aiohttp.web.AppRunner(build_app(svc, metrics=(spool_metrics,)), access_log=None)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, url.hostname, url.port).start()
    async with aiohttp.ClientSession() as session:
        yield session
    await runner.cleanup()
