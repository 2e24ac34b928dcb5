"""What comes back after a message went out: VERP return paths, refusals and delivery reports.

Every outgoing mail carries the envelope sender ``bounce+<token>@<mail domain>``, the token
being the notification's id and a 64-bit HMAC tag derived from the platform key, so a bounce
names the message it is about and nobody can forge one for another message. A permanent
failure (a relay's 5xx, a DSN saying "failed", an SMS refused) goes through `refused`, once
per notification: about a signer's invitation, reminder or code, it marks the signer, records
the evidence (which the webhooks relay as ``signer.delivery_failed``), tells the initiator,
and sends the invitation by SMS when the signer has a mobile.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from tortoise.expressions import Q

from workflows import clock, evidence, links, notifications
from workflows.actors import Actor
from workflows.collections import notices
from workflows.models import Collection, Notification, Person, Signer
from workflows.ports import CoreSettings
from workflows.services import Services
from workflows.text import clean_line
from workflows.transactions import in_transaction

BOUNCE_LOCAL = "bounce"
# The signer mails whose failure marks the signer; the first two also bring the SMS.
SIGNER_TEMPLATES = ("signer/invitation", "signer/reminder", "signer/code")
INVITING_TEMPLATES = ("signer/invitation", "signer/reminder")
# The far end's words kept on the signer and shown to the initiator (one clean line).
FAILURE_TEXT = 300
_TOKEN = re.compile(r"^([1-9][0-9]{0,9})_([0-9a-f]{16})$")
MAX_ID = 2 ** 31 - 1


def _tag(settings: CoreSettings, notification_id: int) -> str:
    message = f"bounce:{notification_id}".encode()
    return hmac.new(links.link_key(settings), message, hashlib.sha256).hexdigest()[:16]


def bounce_token(settings: CoreSettings, notification_id: int) -> str:
    """``<id>_<tag>``: the part after ``bounce+`` of the notification's return path."""
    return f"{notification_id}_{_tag(settings, notification_id)}"


def return_path(settings: CoreSettings, notification_id: int) -> str:
    """The envelope sender of a notification's mail: ``bounce+<token>@<mail domain>``."""
    return f"{BOUNCE_LOCAL}+{bounce_token(settings, notification_id)}@{settings.mail_domain}"


def notification_id_of(settings: CoreSettings, token: str | None) -> int | None:
    """The notification a bounce token names, or None when the token is malformed or forged
    (checked in constant time)."""
    found = _TOKEN.match((token or "").lower())
    if found is None or int(found[1]) > MAX_ID:
        return None
    notification_id = int(found[1])
    if not hmac.compare_digest(_tag(settings, notification_id), found[2]):
        return None
    return notification_id


async def refused(svc: Services, notification: Notification, reason: str, text: str) -> bool:
    """Fails the notification for good (notifications.mark_refused) and, for a signer's
    invitation, reminder or code, reacts; returns False when it was already reported failed
    (a DSN after the relay's 5xx for the same message acts once)."""
    text = clean_line(text, FAILURE_TEXT) or reason
    async with in_transaction():
        won = await Notification.filter(id=notification.id).filter(
            Q(delivery_status__isnull=True) | ~Q(delivery_status="failed")).update(
            delivery_status="failed", reported_at=clock.now())
        if not won:
            return False
        await notifications.mark_refused(notification, reason, text)
        if notification.signer_id and notification.template in SIGNER_TEMPLATES:
            await _signer_failed(svc, notification, reason, text)
    return True


async def _signer_failed(svc: Services, notification: Notification, reason: str,
                         text: str) -> None:
    signer = await Signer.get_or_none(id=notification.signer_id)
    if signer is None:
        return
    now = clock.now()
    await Signer.filter(id=signer.id).update(delivery_failed_at=now, delivery_failure=text)
    collection = await Collection.get(id=signer.collection_id)
    # Keys free of the words the webhooks keep private ("recipient" holds "ip").
    await evidence.record(
        "signer.delivery_failed", Actor.system(), cabinet_id=collection.cabinet_id,
        person_id=signer.person_id, collection_id=collection.id,
        data={"signer": signer.position, "name": signer.name, "address": notification.recipient,
              "channel": notification.channel, "message": notification.template,
              "reason": reason, "diagnostic": text})
    if collection.state != "in_progress" or signer.state != "pending":
        return  # Nobody waits for this signer any more: the mark and the evidence suffice.
    by_sms = (notification.channel == "mail" and notification.template in INVITING_TEMPLATES
              and bool(signer.phone))
    if by_sms:
        await invite_by_sms(svc, collection, signer)
    initiator = await Person.get(id=collection.created_by_id)
    ctx = {**await notices.collection_context(collection), "signer_name": signer.name,
           "address": notification.recipient, "reason": reason, "diagnostic": text,
           "kind": notification.template.split("/", 1)[1], "by_sms": by_sms,
           "phone": signer.phone if by_sms else None}
    await notifications.to_person(initiator, "initiator/delivery_failed", ctx,
                                  dedup_key=f"notification:{notification.id}:delivery_failed")


async def invite_by_sms(svc: Services, collection: Collection, signer: Signer) -> Notification:
    """The signer's invitation as a text message (templates sms/signer/invitation), once per
    signer: who sends it, the document's title and the signer's link (never a code)."""
    cabinet = await collection.cabinet
    initiator = await Person.get(id=collection.created_by_id)
    return await notifications.enqueue(
        channel="sms", template="signer/invitation", recipient=signer.phone,
        language=signer.language, person_id=signer.person_id, signer_id=signer.id,
        context={"signer_name": signer.name, "title": collection.title,
                 "initiator": initiator.name, "cabinet_name": cabinet.name,
                 "collection_id": collection.id,
                 "link": links.link_for(svc.settings, signer.id, collection.id)},
        dedup_key=f"collection:{collection.id}:signer:{signer.id}:invitation:sms")


async def reported(notification: Notification, status: str) -> None:
    """Records a delivery report that is not a failure: "delayed" (kept unless a final word
    came already) or "delivered" (which clears the signer's mark, see `accepted`)."""
    final = Q(delivery_status__in=("failed", "delivered"))
    query = Notification.filter(id=notification.id)
    if status == "delayed":
        await query.filter(~final | Q(delivery_status__isnull=True)).update(
            delivery_status="delayed", reported_at=clock.now())
        return
    await query.filter(~Q(delivery_status="failed") | Q(delivery_status__isnull=True)).update(
        delivery_status="delivered", reported_at=clock.now())
    await accepted(notification)


async def accepted(notification: Notification) -> None:
    """A signer's invitation or reminder reached their address (a relay took it, a DSN says
    delivered): a failure marked before this mail was recorded no longer holds."""
    if not (notification.signer_id and notification.channel == "mail"
            and notification.template in INVITING_TEMPLATES):
        return
    await Signer.filter(id=notification.signer_id, email=notification.recipient,
                        delivery_failed_at__lte=notification.created_at).update(
        delivery_failed_at=None, delivery_failure=None)
