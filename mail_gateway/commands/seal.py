"""seal@: every attached PDF sealed with the cabinet's seal, returned in the reply."""

from __future__ import annotations

from mail_gateway import errors
from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows import sealing
from workflows.errors import CreditInsufficientError, ParapheError


async def run(ctx: MailContext) -> Reply:
    """Seals each attachment; one idempotency key per attachment, so a retry never bills twice.

    Raises the whole-message error (no credit…) when no file could be sealed for that reason.
    """
    sealed, failed, refusals = [], [], []
    credit_left = None
    short: ParapheError | None = None
    for index, attachment in enumerate(ctx.mail.attachments):
        if short is not None:  # Out of credit: the next files would be refused the same way.
            failed.append({"filename": attachment.filename, **errors.cause(short)})
            continue
        try:
            result = await sealing.seal_document(
                ctx.svc, ctx.actor, cabinet=ctx.cabinet.slug, filename=attachment.filename,
                data=attachment.data, idempotency_key=f"mail:{ctx.key}:{index}")
        except ParapheError as exc:
            if exc.kind == "unavailable":
                raise  # The trust service is down: retry the whole message later.
            if isinstance(exc, CreditInsufficientError):
                short = exc
            refusals.append(exc)
            failed.append({"filename": attachment.filename, **errors.cause(exc)})
            continue
        sealed.append({"source": attachment.filename, "filename": result.filename,
                       "sha256": result.sha256, "size": result.size})
        credit_left = result.credit_left
    if not sealed:
        first = _message_level(refusals)
        if first is not None:
            raise first
    context = {**base_context(ctx), "cabinet": ctx.cabinet.slug, "cabinet_name": ctx.cabinet.name,
               "sealed": sealed, "failed": failed, "credit_left": credit_left}
    attachments = [{"sha256": s["sha256"], "filename": s["filename"]} for s in sealed]
    return Reply("sender/sealed", context, attachments)


def _message_level(refusals: list[ParapheError]) -> ParapheError | None:
    # Nothing sealed and every file refused for the same message-level cause (no credit, no
    # delegation): one refusal naming it reads better than the same line per file.
    if not refusals or len({exc.code for exc in refusals}) != 1:
        return None
    return refusals[0] if errors.is_message_level(refusals[0]) else None
