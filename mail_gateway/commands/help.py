"""help@: what the sender may do now, per cabinet, the addresses to use, and their Telegram link."""

from __future__ import annotations

from mail_gateway import replies
from mail_gateway.commands import CHAINS
from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows import delegations, linking, mail_in, people


async def _telegram(ctx: MailContext) -> dict | None:
    """Telegram linking, when the service runs a bot: a fresh one-time code for the unlinked."""
    if ctx.svc.settings.telegram_token is None:
        return None
    if await replies.already_answered(ctx):
        # An earlier attempt recorded the reply with its code; a new code would void that one.
        return None
    # The reply goes to the person's own authenticated address, so the code may appear in it.
    return await linking.link_offer(ctx.person, ctx.svc.telegram_username)


async def run(ctx: MailContext) -> Reply:
    settings = ctx.svc.settings
    rights = await delegations.rights_of(ctx.person)
    roles = {m.cabinet.slug: (m.role, m.cabinet.name)
             for m in await people.memberships_of(ctx.person)}
    cabinets = [{"slug": slug, "name": roles.get(slug, ("", slug))[1],
                 "role": roles.get(slug, ("collaborator", ""))[0], "rights": actions,
                 # The reply goes to the person's own address, so their secret may appear in it.
                 "secret_address": mail_in.address_for(settings, ctx.person, slug)}
                for slug, actions in rights.items()]
    # Every command at the person's own secret address: they work where the person's mail
    # is not DKIM-signed (declared once, in mail_gateway.commands).
    secret_addresses = {command: mail_in.address_for(settings, ctx.person, command=command)
                        for command in CHAINS}
    return Reply("sender/help", {**base_context(ctx), "cabinets": cabinets,
                                 "secret_address": secret_addresses["seal"],
                                 "secret_addresses": secret_addresses,
                                 "telegram": await _telegram(ctx)})
