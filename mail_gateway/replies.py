"""Reply mails as notifications: threaded on the message, deduplicated by its key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mail_gateway import errors
from mail_gateway.context import MailContext
from workflows import notifications, people
from workflows.errors import ParapheError

_REPLY_PREFIX_RE = re.compile(r"^\s*(re|tr|aw|sv)\s*:", re.IGNORECASE)
MAX_REFERENCES = 20


@dataclass
class Reply:
    template: str  # under templates/mail/, e.g. "sender/sealed"
    context: dict
    attachments: list[dict] = field(default_factory=list)


def thread_for(ctx: MailContext) -> dict:
    """In-Reply-To, References and "Re:" subject of the reply, and the address it comes from."""
    subject = ctx.mail.subject
    if not _REPLY_PREFIX_RE.match(subject):
        subject = f"Re: {subject}".rstrip()
    references = list(ctx.mail.references)
    if ctx.mail.message_id:
        references.append(ctx.mail.message_id)
    return {
        "subject": subject,
        "in_reply_to": ctx.mail.message_id,
        "references": " ".join(references[-MAX_REFERENCES:]),
        "from": f"{ctx.command}@{ctx.svc.settings.mail_domain}",
    }


def base_context(ctx: MailContext) -> dict:
    return {"name": ctx.person.name, "command": ctx.command,
            "mail_domain": ctx.svc.settings.mail_domain}


async def refusal(ctx: MailContext, exc: ParapheError) -> Reply:
    """The reply naming why the whole message was refused and what to do."""
    cabinets = [m.cabinet.slug for m in await people.memberships_of(ctx.person)]
    return Reply(errors.REFUSED_TEMPLATE,
                 {**base_context(ctx), "cause": errors.cause(exc), "cabinets": cabinets})


def internal_error(ctx: MailContext) -> Reply:
    return Reply(errors.INTERNAL_ERROR_TEMPLATE, base_context(ctx))


def _reply_key(ctx: MailContext) -> str:
    return f"mail:{ctx.key}:reply"


async def already_answered(ctx: MailContext) -> bool:
    """True when this message's reply was recorded by an earlier attempt (a crash in between)."""
    return await notifications.recorded(_reply_key(ctx))


async def send(ctx: MailContext, reply: Reply):
    """Records the reply; a second call for the same message returns the first one."""
    return await notifications.enqueue(
        channel="mail", template=reply.template, recipient=ctx.person.email,
        language=ctx.person.language, context=reply.context, attachments=reply.attachments,
        thread=thread_for(ctx), person_id=ctx.person.id, dedup_key=_reply_key(ctx))
