"""A cabinet with people, credit and real services, for the collection tests (workflows and web)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from paraphe import templating
from tests.pdfs import make_pdf
from tests.web.trust_server import free_public_url
from workflows import billing, delegations, people, terms
from workflows.actors import Actor
from workflows.document_stores import open_document_store
from workflows.models import Notification
from workflows.pdf.engine import SigningEngine
from workflows.services import Services
from workflows.trust.ca import TrustService

OP = Actor.operator()


@dataclass
class World:
    svc: Services
    cabinet: object
    expert: object
    preparer: object
    launcher: object
    outsider: object

    def actor(self, person, channel: str = "telegram") -> Actor:
        return Actor(person_id=person.id, channel=channel)


async def make_services(settings, workers: int = 2) -> Services:
    trust = await TrustService.open(settings)
    return Services(settings=settings, documents=open_document_store(settings),
                    templates=templating, trust=trust,
                    engine=SigningEngine(settings, workers=workers))


async def seed(svc: Services, credit: int = 100) -> World:
    cab = await people.create_cabinet(OP, slug="dupre", name="Cabinet Dupré", siren="552100554")
    other = await people.create_cabinet(OP, slug="autre", name="Autre Cabinet")
    expert, _ = await people.add_person(OP, email="expert@dupre.test", name="Anne Dupré",
                                        cabinet="dupre", role="expert")
    preparer, _ = await people.add_person(OP, email="prep@dupre.test", name="Paul Prépare",
                                          cabinet="dupre", role="collaborator")
    launcher, _ = await people.add_person(OP, email="launch@dupre.test", name="Léa Lance",
                                          cabinet="dupre", role="collaborator",
                                          phone="+33612345678")
    outsider, _ = await people.add_person(OP, email="other@autre.test", name="Omar Autre",
                                          cabinet="autre", role="expert")
    await delegations.grant(OP, preparer, cab, "prepare")
    await delegations.grant(OP, launcher, cab, "launch")
    if credit:
        await billing.add_credit(OP, cab, credit)
    for cabinet, person in ((cab, expert), (other, outsider)):
        await terms.accept_terms(svc, Actor(person.id, "cli"), cabinet,
                                 svc.settings.terms_version)
    assert other
    return World(svc, cab, expert, preparer, launcher, outsider)


def pdf(text: str = "Lettre de mission") -> bytes:
    return make_pdf(1, text=text)


async def last_mail(recipient: str, template: str) -> Notification:
    # A notice to a person is on channel "person" until the dispatcher sends it; these
    # tests run no bot, so it goes by mail.
    rows = await Notification.filter(recipient=recipient, template=template,
                                     channel__in=("mail", "person")).order_by("-id")
    assert rows, f"no {template} mail to {recipient}"
    return rows[0]


async def link_of(recipient: str) -> str:
    return (await last_mail(recipient, "signer/invitation")).context["link"]


def token_of(link: str) -> str:
    return link.rsplit("/s/", 1)[1]


async def code_of(recipient: str) -> str:
    return (await last_mail(recipient, "signer/code")).context["code"]


@pytest.fixture
def world_settings(settings):
    """Settings whose public URL is a free loopback port (pdfsig asks its OCSP responder)."""
    return settings.model_copy(update={"public_url": free_public_url()})


@pytest.fixture
async def world(db, world_settings):
    svc = await make_services(world_settings)
    try:
        yield await seed(svc)
    finally:
        svc.engine.close()
