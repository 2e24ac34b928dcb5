"""Which approval request a mail answers, found by the request's own Message-ID.

An expert may approve or reject a prepared collection by replying to the approval-request
mail. The reply is matched through its In-Reply-To/References to the Message-ID that mail
went out with, and only when the request was addressed to the person replying: a subject
line proves nothing, and a forwarded request answered by someone else matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from workflows.models import Notification

APPROVAL_TEMPLATE = "approver/approval_request"


async def collection_answered(message_ids: Iterable[str], person_id: int) -> int | None:
    """The collection whose approval request, sent to this person, one of `message_ids`
    names (the newest when several do); None when none does."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    request = await (Notification.filter(message_id__in=ids, template=APPROVAL_TEMPLATE,
                                         person_id=person_id)
                     .order_by("-id").first())
    if request is None:
        return None
    collection_id = (request.context or {}).get("collection_id")
    return int(collection_id) if collection_id is not None else None
