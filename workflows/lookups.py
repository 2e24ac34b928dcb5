"""The hot paths' reads of people and rights, cached per process (workflows.caches): who a
person is, their memberships, whether they hold a delegation.

What these return is shared between requests: read it, never modify or save it. A cached
cabinet's `credit_balance` is whatever it was when read; billing reads the balance itself.
"""

from __future__ import annotations

from workflows import people
from workflows.caches import Cache
from workflows.models import Delegation, Membership, Person

_PERSONS = Cache("person", "people")
_MEMBERSHIPS = Cache("memberships", "people")
_ACTING = Cache("acting_membership", "people")
_MEMBER = Cache("membership", "people")
_HOLDS = Cache("delegation", "people")


async def person(person_id: int) -> Person | None:
    """The person with this id, or None."""
    return await _PERSONS.load(person_id, lambda: Person.get_or_none(id=person_id))


async def memberships(person_id: int) -> list[Membership]:
    """The person's memberships, oldest first, each with its cabinet."""
    return await _MEMBERSHIPS.load(person_id, lambda: Membership.filter(
        person_id=person_id).prefetch_related("cabinet").order_by("id"))


async def acting_membership(person_id: int, slug: str | None) -> Membership:
    """people.acting_membership (person and cabinet loaded); its errors are not cached."""
    return await _ACTING.load((person_id, slug),
                              lambda: people.acting_membership(person_id, slug))


async def membership(person_id: int, cabinet_id: int) -> Membership | None:
    """The person's membership of the cabinet, or None."""
    return await _MEMBER.load((person_id, cabinet_id), lambda: Membership.get_or_none(
        person_id=person_id, cabinet_id=cabinet_id))


async def holds(membership_id: int, action: str) -> bool:
    """True when the membership holds the delegation `action`."""
    return await _HOLDS.load((membership_id, action), lambda: Delegation.exists(
        membership_id=membership_id, action=action))
