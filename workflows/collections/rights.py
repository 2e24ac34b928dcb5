"""Who may start a collection and who may manage one: the rules every channel asks here.

Starting is allowed to a `launch` holder (the collection starts at once) and to a `prepare`
holder (it waits for approval); an expert holds both. Managing (cancel, remind) is allowed
to the collection's initiator and to whoever may launch in its cabinet.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows import delegations
from workflows.errors import CollectionNotFoundError, DelegationMissingError
from workflows.models import Cabinet, Collection, Membership, Person

# The delegations that start a collection, in the order they are tried; the ones in
# LAUNCHING start it at once, the others submit it for approval.
START_ACTIONS = ("launch", "prepare")
LAUNCHING = frozenset({"launch"})


def may_start_with(actions) -> bool:
    """Do these held actions (delegations.rights_of) let a person start a collection?"""
    return bool(set(actions) & set(START_ACTIONS))


@dataclass(frozen=True)
class StartRight:
    """The right a person starts a collection with."""

    basis: str  # recorded in the evidence log: "expert" or "delegation:<action>"
    launch: bool  # True: launched at once; False: prepared, awaiting approval


async def require_start(person: Person, cabinet: Cabinet) -> StartRight:
    """May `person` start (launch or prepare) a collection for `cabinet`? Raises
    NotAMemberError, or DelegationMissingError (action "prepare") when neither is held."""
    for action in START_ACTIONS:
        try:
            return StartRight(await delegations.require(person, cabinet, action),
                              action in LAUNCHING)
        except DelegationMissingError:
            continue
    raise DelegationMissingError(
        f"{person.email} may neither launch nor prepare collections for {cabinet.slug}",
        action="prepare", cabinet=cabinet.slug)


async def manager_basis(person: Person | None, collection: Collection) -> str:
    """The initiator, or whoever may launch in the cabinet, manages a collection; returns
    the basis. Raises CollectionNotFoundError, NotAMemberError, DelegationMissingError."""
    if person is None:
        return "operator"
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    if person.id == collection.created_by_id:
        if not await Membership.exists(person_id=person.id, cabinet_id=cabinet.id):
            raise CollectionNotFoundError(f"no collection {collection.id}")
        return "initiator"
    return await delegations.require(person, cabinet, "launch")
