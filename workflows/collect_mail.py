"""collect@ by mail: signers read from the body (workflows/collections/lines.py), then the
collection use case."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workflows.actors import Actor
from workflows.collections import CollectRequest, create_collection, parse_body
from workflows.services import Services


@dataclass(frozen=True)
class CollectResult:
    request: CollectRequest
    collection: object | None  # the Collection, or None when nothing was created


async def collect_from_mail(svc: Services, actor: Actor, *, cabinet: str | None, subject: str,
                            body: str,
                            attachments: list[tuple[str, bytes]], key: str) -> CollectResult:
    """Starts the collection a collect@ mail asks for, once per message `key`.

    Nothing is created when a line is unreadable or no signer is listed. Raises what
    `create_collection` raises (Document*Error, DelegationMissingError, credit…).
    """
    request = parse_body(body)
    if request.unreadable or not request.signers:
        return CollectResult(request, None)
    title = re.sub(r"\[[a-z0-9-]+\]", "", subject or "").strip()
    collection = await create_collection(
        svc, actor, cabinet=cabinet, documents=attachments, signers=request.signers,
        ordered=request.ordered, title=title, idempotency_key=f"mail:{key}:collect")
    return CollectResult(request, collection)
