"""Delegation checks for every role × action, and their changes over time."""

import pytest

from workflows import delegations, evidence, people
from workflows.actors import Actor
from workflows.errors import (
    DelegationMissingError,
    DelegationNotApplicableError,
    DelegationUnknownError,
    NotAMemberError,
)
from workflows.models.people import ACTIONS

OP = Actor.operator()


@pytest.fixture
async def firm(db):
    cab = await people.create_cabinet(OP, slug="dupont", name="Cabinet Dupont")
    other = await people.create_cabinet(OP, slug="martin", name="Cabinet Martin")
    expert, _ = await people.add_person(OP, email="expert@dupont.fr", name="E", cabinet="dupont",
                                        role="expert")
    collab, _ = await people.add_person(OP, email="collab@dupont.fr", name="C", cabinet="dupont",
                                        role="collaborator")
    return cab, other, expert, collab


@pytest.mark.parametrize("action", ACTIONS)
async def test_expert_holds_every_right_in_own_cabinet_only(firm, action):
    cab, other, expert, _ = firm
    assert await delegations.require(expert, cab, action) == "expert"
    with pytest.raises(NotAMemberError):
        await delegations.require(expert, other, action)


@pytest.mark.parametrize("granted", ACTIONS)
async def test_collaborator_holds_exactly_what_was_granted(firm, granted):
    cab, _, _, collab = firm
    for action in ACTIONS:
        with pytest.raises(DelegationMissingError) as info:
            await delegations.require(collab, cab, action)
        assert info.value.code == "delegation_missing"
    assert await delegations.grant(OP, collab, cab, granted) is True
    for action in ACTIONS:
        if action == granted:
            assert await delegations.require(collab, cab, action) == f"delegation:{action}"
        else:
            assert not await delegations.may(collab, cab, action)
    assert (await delegations.rights_of(collab)) == {"dupont": [granted]}


async def test_revocation_takes_effect_at_once_and_is_recorded(firm):
    cab, _, expert, collab = firm
    await delegations.grant(Actor(expert.id, "cli"), collab, cab, "seal")
    assert await delegations.may(collab, cab, "seal")
    assert await delegations.grant(OP, collab, cab, "seal") is False  # already held
    assert await delegations.revoke(OP, collab, cab, "seal") is True
    assert not await delegations.may(collab, cab, "seal")
    assert await delegations.revoke(OP, collab, cab, "seal") is False
    kinds = [e.kind for e in await evidence.events_for(cabinet_id=cab.id)]
    assert kinds.count("delegation.granted") == 1 and kinds.count("delegation.revoked") == 1


async def test_only_the_expert_manages_delegations(firm):
    cab, _, _, collab = firm
    with pytest.raises(DelegationMissingError):
        await delegations.grant(Actor(collab.id, "telegram"), collab, cab, "seal")


async def test_expert_cannot_be_given_a_delegation(firm):
    cab, _, expert, _ = firm
    with pytest.raises(DelegationNotApplicableError):
        await delegations.grant(OP, expert, cab, "sign")


async def test_unknown_delegation_is_refused_with_stable_code(firm):
    cab, _, _, collab = firm
    with pytest.raises(DelegationUnknownError) as info:
        await delegations.require(collab, cab, "signer")
    assert info.value.code == "delegation_unknown"


async def test_several_cabinets_need_a_choice(firm):
    cab, other, expert, _ = firm
    await people.add_person(OP, email="expert@dupont.fr", name="", cabinet="martin",
                            role="collaborator")
    from workflows.errors import CabinetAmbiguousError

    with pytest.raises(CabinetAmbiguousError) as info:
        await people.resolve_cabinet(expert, None)
    assert info.value.details["cabinets"] == ["dupont", "martin"]
    assert (await people.resolve_cabinet(expert, "martin")).id == other.id
    assert (await delegations.rights_of(expert)) == {"dupont": list(ACTIONS), "martin": []}
