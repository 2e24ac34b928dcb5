"""Fixtures for the bot: a fake Bot API server on loopback, the services and the running bot."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from paraphe import templating
from tests.fakes.telegram import FakeTelegram, User
from workflows import billing, delegations, people, terms
from workflows.actors import Actor
from workflows.models import Person


@pytest.fixture
async def tg():
    server = await FakeTelegram().start()
    yield server
    await server.close()


@pytest.fixture
async def svc(settings, db, tg):
    from workflows.services import Services

    settings.telegram_token = SecretStr(tg.token)
    settings.telegram_api_base = tg.base_url
    # Certificates name this URL for OCSP and CRLs; the `web` fixture serves it.
    settings.web_port = free_port()
    settings.public_url = f"http://127.0.0.1:{settings.web_port}"
    services = await Services.start(settings, templating)
    yield services
    await services.close()


@pytest.fixture
async def web(svc):
    """The web process (CA certificates, CRL, OCSP), for validators that fetch revocation."""
    from web.app import start_web

    runner = await start_web(svc)
    yield runner
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def bot(svc):
    from bot.app import start_bot

    from tests.dispatching import service_dispatcher

    handle = await start_bot(svc, poll_timeout=1)
    # As `paraphe serve` runs it: one dispatcher sends the notices, to the chat or by mail.
    dispatcher = service_dispatcher(svc, handle, poll_interval=0.2)
    dispatcher.start()
    yield handle
    await dispatcher.stop()
    await handle.stop()


class Firm:
    """A cabinet with an expert and a collaborator, and helpers to link them to Telegram."""

    def __init__(self, cabinet, expert: Person, collaborator: Person):
        self.cabinet, self.expert, self.collaborator = cabinet, expert, collaborator

    async def grant(self, person: Person, action: str) -> None:
        await delegations.grant(Actor.operator(), person, self.cabinet, action)

    async def revoke(self, person: Person, action: str) -> None:
        await delegations.revoke(Actor.operator(), person, self.cabinet, action)


@pytest.fixture
async def firm(db, settings):
    op = Actor.operator()
    cabinet = await people.create_cabinet(op, slug="dupont", name="Cabinet Dupont",
                                          siren="552100554")
    expert, _ = await people.add_person(op, email="expert@dupont.test", name="Anne Dupont",
                                        cabinet="dupont", role="expert")
    collab, _ = await people.add_person(op, email="collab@dupont.test", name="Bob Martin",
                                        cabinet="dupont", role="collaborator", language="en")
    await billing.add_credit(op, cabinet, 10)
    await terms.accept_terms(settings, Actor(expert.id, "cli"), cabinet, settings.terms_version)
    return Firm(cabinet, expert, collab)


async def link(tg: FakeTelegram, person: Person, user: User) -> None:
    """Links `user` to `person` through /start <code>, as the person would."""
    from workflows import linking

    code = await linking.link_code_for(person)
    before = len(tg.chat(user.id))
    await tg.send_text(user, f"/start {code.code}")
    await tg.next_in_chat(user.id, before)
    await person.refresh_from_db()
    assert person.telegram_user_id == user.id
