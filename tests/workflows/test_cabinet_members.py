"""An expert manages their cabinet's members and API keys (the cabinet space calls these
use cases); nobody else does; the evidence names the expert."""

from __future__ import annotations

import pytest

from tests.workflows.collection_world import world, world_settings  # noqa: F401 - fixtures
from workflows import apikeys, delegations, people, webhooks
from workflows.actors import Actor
from workflows.errors import (
    ExpertRequiredError,
    MemberNotRemovableError,
    MembershipExistsError,
    PersonInvalidError,
)
from workflows.webhook_secrets import SecretBox
from workflows.webhook_targets import WebhookTargets
from workflows.models import Delegation, EvidenceEvent, Membership, Notification, Person


async def test_expert_invites_a_collaborator_who_gets_a_welcome_mail(world):  # noqa: F811
    anne = Actor(world.expert.id, "web", {"ip": "192.0.2.1"})
    claire = await people.invite_collaborator(world.svc.settings, anne, world.cabinet,
                                              email=" Claire@Dupre.TEST ", name="Claire C")
    assert claire.email == "claire@dupre.test"
    m = await Membership.get(person_id=claire.id, cabinet_id=world.cabinet.id)
    assert m.role == "collaborator"
    mail = await Notification.get(recipient="claire@dupre.test", template="member/welcome")
    assert mail.context["expert"] == "Anne Dupré" and mail.context["cabinet"] == "Cabinet Dupré"
    event = await EvidenceEvent.get(kind="membership.created", person_id=claire.id)
    assert event.data["actor"] == world.expert.id and event.channel == "web"
    with pytest.raises(MembershipExistsError):
        await people.invite_collaborator(world.svc.settings, anne, world.cabinet,
                                         email="claire@dupre.test", name="Claire C")
    with pytest.raises(PersonInvalidError):
        await people.invite_collaborator(world.svc.settings, anne, world.cabinet,
                                         email="not-an-address", name="X")
    # Someone already known elsewhere joins with their own name kept.
    await people.invite_collaborator(world.svc.settings, anne, world.cabinet,
                                     email="other@autre.test", name="Ignored")
    assert (await Person.get(email="other@autre.test")).name == "Omar Autre"


@pytest.mark.parametrize("who", ["preparer", "outsider"])
async def test_only_the_cabinets_expert_manages_members_and_keys(world, who):  # noqa: F811
    actor = Actor(getattr(world, who).id, "web")
    with pytest.raises(ExpertRequiredError):
        await people.invite_collaborator(world.svc.settings, actor, world.cabinet,
                                         email="z@dupre.test", name="Z")
    with pytest.raises(ExpertRequiredError):
        await people.remove_collaborator(actor, world.cabinet, world.launcher.id)
    with pytest.raises(ExpertRequiredError):
        await apikeys.create_key(actor, cabinet="dupre", email="expert@dupre.test", name="k")
    key = await apikeys.create_key(Actor.operator(), cabinet="dupre",
                                   email="expert@dupre.test", name="k")
    with pytest.raises(ExpertRequiredError):
        await apikeys.revoke_key(actor, cabinet="dupre", key_id=key.key.id)
    box, targets = SecretBox(world.svc.settings), WebhookTargets.from_settings(
        world.svc.settings)
    with pytest.raises(ExpertRequiredError):
        await webhooks.add_endpoint(actor, cabinet="dupre", url="https://93.184.215.14/h",
                                    box=box, targets=targets)
    hook = await webhooks.add_endpoint(Actor.operator(), cabinet="dupre",
                                       url="https://93.184.215.14/h", box=box, targets=targets)
    with pytest.raises(ExpertRequiredError):
        await webhooks.remove_endpoint(actor, cabinet="dupre", endpoint_id=hook.endpoint.id)
    assert not await Person.exists(email="z@dupre.test")
    assert await Membership.exists(person_id=world.launcher.id)


async def test_expert_removes_a_collaborator_and_their_delegations(world):  # noqa: F811
    anne = Actor(world.expert.id, "web")
    assert await Delegation.exists(membership__person_id=world.launcher.id)
    assert await people.remove_collaborator(anne, world.cabinet, world.launcher.id)
    assert not await Membership.exists(person_id=world.launcher.id)
    assert not await Delegation.exists(membership__person_id=world.launcher.id)
    assert await delegations.rights_of(world.launcher) == {}
    event = await EvidenceEvent.get(kind="membership.removed")
    assert event.data["actor"] == world.expert.id and event.person_id == world.launcher.id
    assert not await people.remove_collaborator(anne, world.cabinet, world.launcher.id)
    with pytest.raises(MemberNotRemovableError):
        await people.remove_collaborator(anne, world.cabinet, world.expert.id)


async def test_expert_creates_and_revokes_an_api_key(world):  # noqa: F811
    anne = Actor(world.expert.id, "web")
    created = await apikeys.create_key(anne, cabinet="dupre", email="prep@dupre.test",
                                       name="Compta", scopes=["read"])
    assert (await apikeys.authenticate(created.token)).person_id == world.preparer.id
    assert await apikeys.revoke_key(anne, cabinet="dupre", key_id=created.key.id)
    event = await EvidenceEvent.get(kind="apikey.revoked")
    assert event.data["actor"] == world.expert.id
