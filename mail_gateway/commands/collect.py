"""collect@: attached PDFs and the signers listed in the body start a collection."""

from __future__ import annotations

from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows.collect_mail import collect_from_mail


async def run(ctx: MailContext) -> Reply:
    """Starts the collection (once per message) or lists the lines it could not read.

    Raises the whole-message errors of create_collection (no delegation, no credit, a PDF
    refused…), which the pipeline turns into a refusal reply.
    """
    documents = [(a.filename, a.data) for a in ctx.mail.attachments]
    result = await collect_from_mail(
        ctx.svc, ctx.actor, cabinet=ctx.cabinet.slug, subject=ctx.mail.subject,
        body=ctx.mail.text, attachments=documents, key=ctx.key)
    context = {**base_context(ctx), "cabinet": ctx.cabinet.slug,
               "cabinet_name": ctx.cabinet.name, "unreadable": result.request.unreadable,
               "signers": [{"name": s.name, "email": s.email} for s in result.request.signers]}
    if result.collection is None:
        return Reply("initiator/collect_unreadable", context)
    collection = result.collection
    context.update(collection_id=collection.id, state=collection.state,
                   ordered=collection.ordered, title=collection.title,
                   documents=[filename for filename, _ in documents])
    return Reply("initiator/collect_started", context)
