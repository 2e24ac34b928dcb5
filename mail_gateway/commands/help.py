"""help@: what the sender may do now, per cabinet, and the addresses to use."""

from __future__ import annotations

from mail_gateway.context import MailContext
from mail_gateway.replies import Reply, base_context
from workflows import delegations, people


async def run(ctx: MailContext) -> Reply:
    domain = ctx.svc.settings.mail_domain
    rights = await delegations.rights_of(ctx.person)
    roles = {m.cabinet.slug: (m.role, m.cabinet.name)
             for m in await people.memberships_of(ctx.person)}
    secret = ctx.person.mail_secret
    cabinets = [{"slug": slug, "name": roles.get(slug, ("", slug))[1],
                 "role": roles.get(slug, ("collaborator", ""))[0], "rights": actions,
                 # The reply goes to the person's own address, so their secret may appear in it.
                 "secret_address": f"seal+{secret}+{slug}@{domain}"}
                for slug, actions in rights.items()]
    return Reply("sender/help", {**base_context(ctx), "cabinets": cabinets,
                                 "secret_address": f"seal+{secret}@{domain}"})
