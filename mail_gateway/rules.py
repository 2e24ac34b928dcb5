"""Small named checks run before a command, in the order each command's chain lists them.

As in Mailman: a rule has a `name` and an async `check(ctx)`; it stops the chain by raising
a domain error, which mail_gateway.errors turns into the reply naming the cause.
"""

from __future__ import annotations

from mail_gateway.context import MailContext
from workflows import delegations, people
from workflows.errors import CabinetNotFoundError, DocumentMissingError, NotAMemberError


class HasAttachment:
    name = "has-attachment"

    async def check(self, ctx: MailContext) -> None:
        if not ctx.mail.attachments:
            raise DocumentMissingError("the message has no attached file")


class CabinetChosen:
    """The cabinet: from the secret address, else a `[slug]` tag of the subject, else the only one."""

    name = "cabinet-chosen"

    async def check(self, ctx: MailContext) -> None:
        slug = ctx.address_cabinet
        if slug is None:
            tags = ctx.mail.subject_tags()
            if tags:
                own = {m.cabinet.slug for m in await people.memberships_of(ctx.person)}
                # Other bracketed words ("[EXT]", "[Urgent]") may sit in a subject: a tag that
                # names one of the sender's cabinets wins; otherwise the first tag is meant.
                slug = next((t for t in tags if t in own), tags[0])
        try:
            ctx.cabinet = await people.resolve_cabinet(ctx.person, slug)
        except NotAMemberError as exc:
            if slug is None:
                raise
            raise CabinetNotFoundError(exc.message, slug=slug) from None


class MaySeal:
    """The sender holds the `seal` right for the cabinet now (sealing checks it again)."""

    name = "may-seal"

    async def check(self, ctx: MailContext) -> None:
        ctx.basis = await delegations.require(ctx.person, ctx.cabinet, "seal")


RULES = {rule.name: rule for rule in (HasAttachment(), CabinetChosen(), MaySeal())}

# The chain of each command address: rule names, in order.
CHAINS: dict[str, tuple[str, ...]] = {
    "seal": ("has-attachment", "cabinet-chosen", "may-seal"),
    "collect": ("has-attachment", "cabinet-chosen"),
    "verify": ("has-attachment",),
    "help": (),
}


async def run_chain(ctx: MailContext) -> None:
    """Runs the command's rules; the first that fails raises its domain error."""
    for name in CHAINS[ctx.command]:
        await RULES[name].check(ctx)
