"""What every step of a collection's lifecycle starts from: the collection as the actor may
see it, its conditional state transitions, and the credit it reserved.

Another cabinet's collection is "not found", never "forbidden": its existence is private.
"""

from __future__ import annotations

from workflows import billing
from workflows.actors import Actor
from workflows.errors import CollectionNotFoundError, CollectionStateError
from workflows.models import (
    Cabinet,
    Collection,
    CollectionDocument,
    Membership,
    Person,
    Signer,
)


async def person_of(actor: Actor) -> Person | None:
    """The person acting, or None for the operator and the system."""
    return await Person.get(id=actor.person_id) if actor.person_id is not None else None


async def load(collection_id) -> Collection:
    """The collection of that id; raises CollectionNotFoundError (also for a non-number)."""
    try:
        number = int(collection_id)
    except (TypeError, ValueError):
        raise CollectionNotFoundError(f"no collection {collection_id!r}") from None
    collection = await Collection.get_or_none(id=number)
    if collection is None:
        raise CollectionNotFoundError(f"no collection {number}", collection_id=number)
    return collection


async def visible(actor: Actor, collection_id) -> tuple[Person | None, Collection]:
    """The acting person and the collection, when it belongs to one of their cabinets;
    raises CollectionNotFoundError otherwise."""
    collection = await load(collection_id)
    person = await person_of(actor)
    if person is not None and not await Membership.exists(person_id=person.id,
                                                          cabinet_id=collection.cabinet_id):
        raise CollectionNotFoundError(f"no collection {collection.id}",
                                      collection_id=collection.id)
    return person, collection


async def transition(collection: Collection, sources: tuple[str, ...], target: str,
                     **fields) -> None:
    """Moves the collection from one of `sources` to `target`; raises CollectionStateError."""
    done = await Collection.filter(id=collection.id, state__in=list(sources)).update(
        state=target, **fields)
    if done != 1:
        fresh = await Collection.get(id=collection.id)
        raise CollectionStateError(
            f"collection {collection.id} is {fresh.state}: cannot go to {target}",
            collection_id=collection.id, state=fresh.state)
    collection.state = target
    for name, value in fields.items():
        setattr(collection, name, value)


async def signature_cost(collection: Collection) -> int:
    """What the collection's signatures cost: one per signer and document."""
    cabinet = await Cabinet.get(id=collection.cabinet_id)
    signers = await Signer.filter(collection_id=collection.id).count()
    documents = await CollectionDocument.filter(collection_id=collection.id).count()
    return await billing.price(cabinet, "signature") * signers * documents


async def release(collection: Collection) -> int:
    """Gives back the credit the collection reserved and did not use; returns how much."""
    fresh = await Collection.get(id=collection.id)
    if fresh.reservation_id is None:
        return 0
    reservation = await fresh.reservation
    return await billing.release(reservation, reference=f"collection:{collection.id}")
