"""Small named checks run before a command, in the order each command's chain lists them.

As in Mailman: a rule has a `name` and an async `check(ctx)`; it stops the chain by raising
a domain error, which mail_gateway.errors turns into the reply naming the cause, or by
raising Discard, after which the message is recorded and never answered.
"""

from __future__ import annotations

import re

from mail_gateway.commands import CHAINS
from mail_gateway.context import MailContext
from workflows import lookups
from workflows.errors import CabinetNotFoundError, DocumentMissingError, NotAMemberError
from workflows.text import clean_line


class Discard(Exception):
    """Mailman's discard action: the message is recorded with `marker` and never answered."""

    def __init__(self, marker: str) -> None:
        super().__init__(marker)
        self.marker = marker


# RFC 3834 §2 and the Precedence values list managers and vacation programs write.
ROBOT_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})
_ANGLE_RE = re.compile(r"<[^<>]{1,200}>")


def robot_marker(mail_from: str, headers) -> str | None:
    """What shows a message was sent by a program (RFC 3834, RFC 3464), or None for a person.

    `headers` is the message's header section (an email Message). Answering a robot can
    loop between two of them, and a delivery report carries the original mail and its PDFs.
    """
    if not (mail_from or "").strip().strip("<>").strip():
        return "null reverse-path"
    if headers.get_content_type() == "multipart/report":  # DSN (RFC 3464), MDN (RFC 8098)
        return "Content-Type: multipart/report"
    auto = _value(headers, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if name in headers:
            return f"{name}: {_value(headers, name)}".rstrip(": ")
    precedence = _value(headers, "Precedence").lower()
    if precedence in ROBOT_PRECEDENCE:
        return f"Precedence: {precedence}"
    if "List-Id" in headers:
        list_id = _value(headers, "List-Id")
        found = _ANGLE_RE.search(list_id)
        return f"List-Id: {found.group(0) if found else list_id}".rstrip(": ")
    return None


def _value(headers, name: str) -> str:
    # The marker lands in the message's record: one short clean line.
    return clean_line(str(headers.get(name) or ""), 100)


class NotFromRobot:
    """Robots are never answered nor billed: the message is discarded with its marker."""

    name = "not-from-robot"

    async def check(self, ctx: MailContext) -> None:
        marker = robot_marker(ctx.mail_from, ctx.headers)
        if marker is not None:
            raise Discard(marker)


class HasAttachment:
    name = "has-attachment"

    async def check(self, ctx: MailContext) -> None:
        if not ctx.mail.attachments:
            raise DocumentMissingError("the message has no attached file")


class CabinetChosen:
    """The cabinet: from the secret address, else a `[slug]` tag of the subject, else the only
    one."""

    name = "cabinet-chosen"

    async def check(self, ctx: MailContext) -> None:
        slug = ctx.address_cabinet
        if slug is None:
            tags = ctx.mail.subject_tags()
            if tags:
                own = {m.cabinet.slug for m in await lookups.memberships(ctx.person.id)}
                # Other bracketed words ("[EXT]", "[Urgent]") may sit in a subject: a tag that
                # names one of the sender's cabinets wins; otherwise the first tag is meant.
                slug = next((t for t in tags if t in own), tags[0])
        try:
            # Cached: the seal itself asks the same again (workflows.sealing).
            ctx.cabinet = (await lookups.acting_membership(ctx.person.id, slug)).cabinet
        except NotAMemberError as exc:
            if slug is None:
                raise
            raise CabinetNotFoundError(exc.message, slug=slug) from None


RULES = {rule.name: rule for rule in (NotFromRobot(), HasAttachment(), CabinetChosen())}



async def run_chain(ctx: MailContext, chain: tuple[str, ...] | None = None) -> None:
    """Runs the command's rules (or those of `chain`); the first that fails raises its
    domain error."""
    for name in CHAINS[ctx.command] if chain is None else chain:
        await RULES[name].check(ctx)
