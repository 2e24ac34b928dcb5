"""Reply mails as notifications: threaded on the message, deduplicated by its key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mail_gateway import errors, mime
from mail_gateway.context import MailContext
from workflows import notifications, people
from workflows.errors import ParapheError
from workflows.text import clean_line

_REPLY_PREFIX_RE = re.compile(r"^\s*(re|tr|aw|sv)\s*:", re.IGNORECASE)
MAX_REFERENCES = 20
# Room for "Re: " within RFC 5322's line: the subject is encoded and folded by the email package.
SUBJECT_LIMIT = 900


@dataclass
class Reply:
    template: str  # under templates/mail/, e.g. "sender/sealed"
    context: dict
    attachments: list[dict] = field(default_factory=list)


def thread_for(ctx: MailContext) -> dict:
    """In-Reply-To, References and "Re:" subject of the reply, and the address it comes from.

    Rebuilt from the cleaned values of the message: ids that cannot go into a header as they
    are (not printable ASCII) are left out, the subject is one clean line.
    """
    subject = clean_line(ctx.mail.subject, SUBJECT_LIMIT)
    if not _REPLY_PREFIX_RE.match(subject):
        subject = f"Re: {subject}".rstrip()
    references = [r for r in ctx.mail.references if mime.thread_id(r)]
    in_reply_to = mime.thread_id(ctx.mail.message_id)
    if in_reply_to:
        references.append(in_reply_to)
    return {
        "subject": subject,
        "in_reply_to": in_reply_to,
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


def unreadable(ctx: MailContext, exc: ParapheError) -> Reply:
    """The reply to a message whose structure could not be read: nothing was done or billed."""
    return Reply(errors.UNREADABLE_TEMPLATE, {**base_context(ctx), "cause": errors.cause(exc)})


def _reply_key(ctx: MailContext, kind: str = "reply") -> str:
    return f"mail:{ctx.key}:{kind}"


async def already_answered(ctx: MailContext) -> bool:
    """True when this message's reply was recorded by an earlier attempt (a crash in between)."""
    return await notifications.recorded(_reply_key(ctx))


async def send(ctx: MailContext, reply: Reply, *, kind: str = "reply"):
    """Records the reply; a second call for the same message and kind returns the first one.

    `kind` is "reply" for the answer to the command; a message set aside (unreadable, or
    failing past its deadline) is answered under its own kind, so that if an operator
    retries it, its real answer still goes out.
    """
    return await notifications.enqueue(
        channel="mail", template=reply.template, recipient=ctx.person.email,
        language=ctx.person.language, context=reply.context, attachments=reply.attachments,
        thread=thread_for(ctx), person_id=ctx.person.id, dedup_key=_reply_key(ctx, kind))
