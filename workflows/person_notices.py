"""Notices to a registered person on one channel: Telegram when they linked it, else mail.

When the service runs without a Telegram bot, `send_chat_notices_by_mail` moves the
notices waiting for a chat to mail, so that nobody misses one.
"""

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


# The dedup keys of the chat copies of mail notices (workflows.chat_notifications).
MIRROR_PREFIX = "telegram:mirror:"


async def send_chat_notices_by_mail(limit: int = 200) -> int:
    """Sends by mail the chat notices that wait while no bot runs; returns how many moved.

    A notice the core addressed to a linked person's chat goes to their address instead,
    with the mail version of its template. A chat copy of a mail notice is dropped: its
    mail went out already. Each row moves by a conditional update, once.
    """
    rows = await (Notification.filter(channel="telegram", state="pending")
                  .order_by("id").limit(limit))
    people = {p.id: p for p in await Person.filter(
        id__in=[n.person_id for n in rows if n.person_id] or [0])}
    moved = 0
    for n in rows:
        waiting = Notification.filter(id=n.id, channel="telegram", state="pending")
        person = people.get(n.person_id)
        if (n.dedup_key or "").startswith(MIRROR_PREFIX):
            await waiting.update(state="failed", last_error="no Telegram bot runs; "
                                                            "the mail went out")
        elif person is None:  # The person was deleted meanwhile.
            await waiting.update(state="failed", last_error="no recipient left")
        else:
            moved += await waiting.update(channel="mail", recipient=person.email)
    return moved
