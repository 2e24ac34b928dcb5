"""Which collections a person, a chat or an API key sees: one listing for every channel."""

from __future__ import annotations

from datetime import datetime

from workflows import delegations
from workflows.actors import Actor
from workflows.collections.states import person_of, visible
from workflows.errors import CollectionInvalidError
from workflows.models import Cabinet, Collection, Membership, Person, Signer
from workflows.models.collections import STATES


async def get_collection(actor: Actor, collection_id) -> Collection:
    """A collection the actor may see (a member of its cabinet); raises CollectionNotFoundError."""
    _, collection = await visible(actor, collection_id)
    return collection


def check_state(state: str | None) -> None:
    """Raises CollectionInvalidError for a state that is not one of STATES."""
    if state is not None and state not in STATES:
        raise CollectionInvalidError(f"unknown state {state!r}: one of {', '.join(STATES)}")


def _filtered(query, *, state: str | None, created_after: datetime | None,
              created_before: datetime | None, before_id: int | None):
    if state:
        query = query.filter(state=state)
    if created_after is not None:
        query = query.filter(created_at__gte=created_after)
    if created_before is not None:
        query = query.filter(created_at__lt=created_before)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return query


async def list_collections(actor: Actor, *, state: str | None = None,
                           cabinet: str | None = None) -> list[Collection]:
    """The collections of the actor's cabinets (one cabinet when named), oldest first.
    Raises CollectionInvalidError for an unknown state."""
    check_state(state)
    query = Collection.all()
    person = await person_of(actor)
    if person is not None:
        cabinet_ids = await Membership.filter(person_id=person.id).values_list("cabinet_id",
                                                                               flat=True)
        query = query.filter(cabinet_id__in=list(cabinet_ids) or [0])
    if cabinet:
        query = query.filter(cabinet__slug=cabinet)
    query = _filtered(query, state=state, created_after=None, created_before=None,
                      before_id=None)
    return list(await query.order_by("id"))


async def cabinet_collections(cabinet_id: int, *, state: str | None = None,
                              created_after: datetime | None = None,
                              created_before: datetime | None = None,
                              before_id: int | None = None, limit: int | None = None
                              ) -> list[Collection]:
    """One cabinet's collections, newest first (a page of `limit` below `before_id`): what
    an API key of the cabinet lists. Raises CollectionInvalidError for an unknown state."""
    check_state(state)
    query = _filtered(Collection.filter(cabinet_id=cabinet_id), state=state,
                      created_after=created_after, created_before=created_before,
                      before_id=before_id).order_by("-id")
    if limit is not None:
        query = query.limit(limit)
    return list(await query)


async def pending_approvals(person: Person) -> list[Collection]:
    """Collections awaiting approval that this person may approve."""
    found = []
    for c in await Collection.filter(state="awaiting_approval").order_by("id"):
        if c.created_by_id == person.id:
            continue
        if await delegations.may(person, await Cabinet.get(id=c.cabinet_id), "launch"):
            found.append(c)
    return found


async def member_sees(person: Person, membership: Membership,
                      rows: list[Collection]) -> list[Collection]:
    """Of a cabinet's collections, those its member follows: all of them for an expert; for
    a collaborator, their own and those awaiting their approval (as a `launch` holder)."""
    if membership.role == "expert":
        return rows
    waiting = {c.id for c in await pending_approvals(person)}
    return [c for c in rows if c.created_by_id == person.id or c.id in waiting]


async def signers_of(collection: Collection) -> list[Signer]:
    return list(await Signer.filter(collection_id=collection.id).order_by("position"))
