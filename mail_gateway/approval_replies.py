"""Replies to an approval-request mail: `OK` / `VALIDER` launches, `REFUS <motif>` rejects.

The request goes out with a Reply-To of the expert's own secret collect@ address
(mail_gateway.delivery), so the reply is authenticated even where the expert's mail is not
DKIM-signed; it is matched to its collection by the request's Message-ID
(workflows.collections.approval_threads), never by its subject. Only the first line of the
reply that is not blank is read: the quoted request below it is not.
"""

from __future__ import annotations

import re

from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows.collections import approve_collection, reject_collection
from workflows.collections.approval_threads import collection_answered

# The rules a reply goes through instead of collect@'s (it carries no PDF).
CHAIN = ("not-from-robot",)
_APPROVE_RE = re.compile(r"^(?:ok|okay|valider|validé|validee|validée)\b[\s.!]*$",
                         re.IGNORECASE)
_REJECT_RE = re.compile(r"^(?:refus|refuser|refusé|refusee|refusée)\b[\s.:,;!-]*(.*)$",
                        re.IGNORECASE)


async def answered_collection(ctx: MailContext) -> int | None:
    """The collection this mail answers the approval request of, if it is such a reply."""
    if ctx.command != "collect":
        return None
    return await collection_answered(ctx.mail.references, ctx.person.id)


def decision(text: str) -> tuple[str, str] | None:
    """("approve", "") or ("reject", reason) from the reply's first line; None when it is
    neither."""
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        if _APPROVE_RE.match(line):
            return "approve", ""
        rejected = _REJECT_RE.match(line)
        if rejected:
            return "reject", rejected[1].strip()
        return None
    return None


async def run(ctx: MailContext, collection_id: int) -> Reply:
    """Approves or rejects; a reply that says neither gets the grammar back, and nothing
    changes. Domain errors (no `launch` right, wrong state, no credit, no reason) are
    raised for the pipeline's refusal reply."""
    context = {**base_context(ctx), "collection_id": collection_id}
    said = decision(ctx.mail.text)
    if said is None:
        return Reply("approver/reply_unreadable", context)
    action, reason = said
    if action == "approve":
        collection = await approve_collection(ctx.svc, ctx.actor, collection_id)
    else:
        collection = await reject_collection(ctx.svc, ctx.actor, collection_id, reason)
    return Reply("approver/reply_done", {**context, "action": action, "reason": reason,
                                         "title": collection.title,
                                         "state": collection.state})
