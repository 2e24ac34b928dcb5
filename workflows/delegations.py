"""Who may do what for which cabinet, now: experts hold every right, collaborators their
delegations."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from workflows import clock, evidence, lookups
from workflows.actors import Actor
from workflows.errors import (
    DelegationMissingError,
    DelegationNotApplicableError,
    DelegationUnknownError,
    NotAMemberError,
)
from workflows.models import Cabinet, Delegation, Membership, Person
from workflows.models.people import ACTIONS
from workflows.transactions import in_transaction


def check_action(action: str) -> str:
    """Returns the action if it is one of sign, seal, prepare, launch; raises
    DelegationUnknownError."""
    if action not in ACTIONS:
        raise DelegationUnknownError(
            f"unknown delegation {action!r}: use sign, seal, prepare or launch", action=action)
    return action


async def require(person: Person, cabinet: Cabinet, action: str) -> str:
    """Checks that `person` may do `action` for `cabinet` at this moment.

    Returns the basis of the right ("expert" or "delegation:<action>"), which the
    caller records in the evidence log with the action. Raises
    DelegationUnknownError, NotAMemberError or DelegationMissingError.
    """
    check_action(action)
    # Cached (workflows.caches): a removal or a revocation on this instance shows at once.
    membership = await lookups.membership(person.id, cabinet.id)
    if membership is None:
        raise NotAMemberError(f"{person.email} is not a member of {cabinet.slug}",
                              cabinet=cabinet.slug)
    return await basis(person, cabinet, membership, action)


async def basis(person: Person, cabinet: Cabinet, membership: Membership, action: str) -> str:
    """`require` for a membership the caller has just read (no query for an expert)."""
    check_action(action)
    if membership.role == "expert":
        return "expert"
    if await lookups.holds(membership.id, action):
        return f"delegation:{action}"
    raise DelegationMissingError(
        f"{person.email} does not hold the {action!r} delegation for {cabinet.slug}",
        action=action, cabinet=cabinet.slug)


async def may(person: Person, cabinet: Cabinet, action: str) -> bool:
    """True when `require` would pass."""
    try:
        await require(person, cabinet, action)
    except (DelegationMissingError, NotAMemberError):
        return False
    return True


async def rights_of(person: Person) -> dict[str, list[str]]:
    """For each cabinet the person belongs to (by slug), the actions they may do now."""
    memberships = await Membership.filter(person=person).prefetch_related("cabinet", "delegations")
    rights: dict[str, list[str]] = {}
    for m in sorted(memberships, key=lambda m: m.cabinet.slug):
        if m.role == "expert":
            rights[m.cabinet.slug] = list(ACTIONS)
        else:
            held = {d.action for d in m.delegations}
            rights[m.cabinet.slug] = [a for a in ACTIONS if a in held]
    return rights


async def _membership(person: Person, cabinet: Cabinet) -> Membership:
    membership = await Membership.get_or_none(person_id=person.id, cabinet_id=cabinet.id)
    if membership is None:
        raise NotAMemberError(f"{person.email} is not a member of {cabinet.slug}",
                              cabinet=cabinet.slug)
    if membership.role == "expert":
        raise DelegationNotApplicableError(
            f"{person.email} is an expert of {cabinet.slug} and already holds every right")
    return membership


async def grant(actor: Actor, person: Person, cabinet: Cabinet, action: str) -> bool:
    """Grants a delegation; returns False when it was already held.

    When the actor is a person, they must be an expert of the cabinet. Raises
    DelegationUnknownError, NotAMemberError, DelegationNotApplicableError,
    DelegationMissingError.
    """
    check_action(action)
    await _require_expert(actor, cabinet)
    membership = await _membership(person, cabinet)
    try:
        async with in_transaction():
            await Delegation.create(membership=membership, action=action,
                                    granted_by_id=actor.person_id, granted_at=clock.now())
            await evidence.record("delegation.granted", actor, cabinet_id=cabinet.id,
                                  person_id=person.id, data={"email": person.email,
                                                             "action": action})
    except IntegrityError:
        return False
    return True


async def revoke(actor: Actor, person: Person, cabinet: Cabinet, action: str) -> bool:
    """Removes a delegation; returns False when it was not held. Raises as `grant`."""
    check_action(action)
    await _require_expert(actor, cabinet)
    membership = await _membership(person, cabinet)
    async with in_transaction():
        deleted = await Delegation.filter(membership=membership, action=action).delete()
        if deleted:
            await evidence.record("delegation.revoked", actor, cabinet_id=cabinet.id,
                                  person_id=person.id, data={"email": person.email,
                                                             "action": action})
    return bool(deleted)


async def _require_expert(actor: Actor, cabinet: Cabinet) -> None:
    # The operator (no person) administers every cabinet; a person must be its expert.
    if actor.person_id is None:
        return
    membership = await Membership.get_or_none(person_id=actor.person_id, cabinet_id=cabinet.id)
    if membership is None or membership.role != "expert":
        raise DelegationMissingError("only the cabinet's expert manages its delegations",
                                     cabinet=cabinet.slug)
