"""The version store of a collection's documents: each document moves from version to version
(original, one per signature, the document timestamp), and the intermediate ones are forgotten.

One owner for the rules signing and finalisation share: a document moves only over the
version a change was made on (a conditional update), a replaced version nobody points at is
deleted, and the changes of one collection are made one after the other in a process.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from workflows.models import CollectionDocument, Document
from workflows.services import Services


# One lock per collection and process: signatures of one collection are made one after
# the other, since each builds on the file the previous one wrote.
_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)


def lock(collection_id: int) -> asyncio.Lock:
    """The lock that serialises the document changes of one collection in this process."""
    return _locks[collection_id]


async def move(row: CollectionDocument, version: int, stored: Document) -> bool:
    """Makes `stored` the current version of `row`, only if the row is still at `version`
    (another process may have moved it since it was read); True when it moved."""
    moved = await CollectionDocument.filter(id=row.id, version=version).update(
        current_id=stored.id, version=version + 1)
    return moved == 1


async def forget(svc: Services, documents) -> None:
    """Removes stored versions no collection document points at any more (best effort)."""
    for doc in documents:
        if doc is None or await CollectionDocument.filter(original_id=doc.id).exists() or \
                await CollectionDocument.filter(current_id=doc.id).exists():
            continue
        await svc.documents.forget(doc.sha256)
        await Document.filter(id=doc.id).delete()
