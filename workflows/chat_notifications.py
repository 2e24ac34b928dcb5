"""Chat copies of mail notifications for people who linked a Telegram account.

The core records notifications on channel "mail" (approval requests, signatures,
declines, completion, expiry warnings, low credit). A person who linked Telegram
also gets each one whose template has a chat version (templates/chat/notify/…),
as a "telegram" notification with the same context and attachments. The dedup key
names the mail notification, so a copy is made once whichever process scans.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from workflows import clock, notifications
from workflows.models import Notification, Person

CHAT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "chat" / "notify"
# Mail notifications older than this are not copied any more (a chat ping days late is noise).
WINDOW = timedelta(hours=24)

def has_chat_version(template: str) -> bool:
    return (CHAT_TEMPLATES / f"{template}.fr.j2").exists()


async def mirror_to_telegram(after_id: int = 0, limit: int = 200) -> tuple[int, int]:
    """Copies mail notifications newer than `after_id` to linked people's Telegram.

    Returns (copies made, highest id looked at): the caller passes the latter next time.
    """
    rows = await (Notification.filter(channel="mail", id__gt=after_id,
                                      created_at__gte=clock.now() - WINDOW)
                  .order_by("id").limit(limit))
    if not rows:
        return 0, after_id
    seen = rows[-1].id
    wanted = [n for n in rows if has_chat_version(n.template)]
    if not wanted:
        return 0, seen
    ids = {n.person_id for n in wanted if n.person_id}
    emails = {n.recipient.lower() for n in wanted}
    linked = await Person.filter(telegram_user_id__not_isnull=True).filter(
        id__in=list(ids) or [0]).all()
    linked += await Person.filter(telegram_user_id__not_isnull=True, email__in=list(emails)).all()
    by_id = {p.id: p for p in linked}
    by_email = {p.email: p for p in linked}
    made = 0
    for n in wanted:
        person = by_id.get(n.person_id) or by_email.get(n.recipient.lower())
        if person is None:
            continue
        await notifications.enqueue(
            channel="telegram", template=n.template, recipient=str(person.telegram_user_id),
            language=person.language, context=n.context, attachments=n.attachments,
            person_id=person.id, dedup_key=f"telegram:mirror:{n.id}")
        made += 1
    return made, seen
