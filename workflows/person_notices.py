"""Notices to a registered person on one channel: Telegram when they linked it, else mail."""

from __future__ import annotations

from workflows import notifications
from workflows.models import Membership, Notification, Person


async def notify(person: Person, template: str, context: dict, *,
                 dedup_key: str) -> Notification:
    """Records one notice (templates chat/notify/<template> or mail/<template>).

    The dedup key names the notice, not the channel: whichever channel it went to,
    recording it again returns the first one.
    """
    linked = person.telegram_user_id is not None
    return await notifications.enqueue(
        channel="telegram" if linked else "mail", template=template,
        recipient=str(person.telegram_user_id) if linked else person.email,
        language=person.language, context={**context, "name": person.name},
        person_id=person.id, dedup_key=dedup_key)


async def experts_of(cabinet_id: int) -> list[Person]:
    """The cabinet's experts, in a stable order."""
    rows = await (Membership.filter(cabinet_id=cabinet_id, role="expert")
                  .prefetch_related("person").order_by("person_id"))
    return [m.person for m in rows]
