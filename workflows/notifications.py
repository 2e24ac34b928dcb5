"""Outgoing messages as intentions: the core records them, one dispatcher sends them.

The core says to whom (a person, a signer, a cabinet's experts), for what (the template, its
purpose) and with what data, in the caller's transaction; it never picks a transport. A
notice to a person is recorded on channel PERSON: the dispatcher (paraphe.dispatch) chooses
chat or mail when it sends, so a person who links Telegram, or a service whose bot stops,
changes where the next notice goes. A message to a raw address (a reply to a sender) is
recorded on its channel ("mail"), and goes there.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from collections.abc import Iterable

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from workflows import clock, holders
from workflows.models import Membership, Notification, Person, Signer
from workflows.transactions import in_transaction, in_transaction_now

# Retry delays after each failed attempt; after the last one the notification is failed for good.
BACKOFF = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
           timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6), timedelta(hours=12))
# A claim older than this is taken to be from a worker that died, and is claimed again.
CLAIM_TIMEOUT = timedelta(minutes=5)


class DeliveryRefused(Exception):
    """The far end refused a message for good (a relay's 5xx, a number that cannot receive
    SMS): it is not retried. `reason` is a short code counted by /metrics
    ("mailbox_unknown", "relay_refused", "sms_undeliverable", …); `text` is the far end's
    own words."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(f"{reason}: {text}")
        self.reason, self.text = reason, text


async def enqueue(*, channel: str, template: str, recipient: str, language: str = "fr",
                  context: dict | None = None, attachments: Iterable[dict] = (),
                  thread: dict | None = None, person_id: int | None = None,
                  dedup_key: str | None = None, signer_id: int | None = None) -> Notification:
    """Records a message to send; with a dedup_key already used, returns the first one instead.

    `signer_id` names the collection signer the message is about (their invitation, reminder
    or code), so that a bounce can mark them (workflows.deliveries).
    """
    now = clock.now()
    # Inserted first, the key read only when it was taken: a dedup key seldom repeats (a
    # retry), and the look-up before every insert cost a statement per message. Inside a
    # caller's transaction a savepoint keeps a duplicate from aborting it (PostgreSQL);
    # alone, one INSERT needs no transaction.
    try:
        async with in_transaction() if in_transaction_now() else contextlib.nullcontext():
            return await Notification.create(
                channel=channel, template=template, recipient=recipient, language=language,
                context=context or {}, attachments=list(attachments), thread=thread or {},
                person_id=person_id, dedup_key=dedup_key, signer_id=signer_id,
                next_attempt_at=now, created_at=now)
    except IntegrityError:
        if dedup_key:
            return await Notification.get(dedup_key=dedup_key)
        raise


# The channel of a notice to a person: chat when they linked it and a bot runs, else mail,
# decided by the dispatcher when it sends (templates chat/notify/<purpose> or mail/<purpose>).
PERSON = "person"


async def to_person(person: Person, purpose: str, context: dict, *,
                    dedup_key: str | None = None, attachments: Iterable[dict] = (),
                    thread: dict | None = None) -> Notification:
    """Records a notice to a registered person, on the channel the dispatcher will pick.

    The dedup key names the notice, not the channel: whichever channel it goes to,
    recording it again returns the first one.
    """
    return await enqueue(channel=PERSON, template=purpose, recipient=person.email,
                         language=person.language, context={**context, "name": person.name},
                         attachments=attachments, thread=thread, person_id=person.id,
                         dedup_key=dedup_key)


async def to_signer(signer: Signer, purpose: str, context: dict, *,
                    dedup_key: str | None = None, attachments: Iterable[dict] = (),
                    thread: dict | None = None) -> Notification:
    """Records a message to a collection's signer: to the address the collection named, or,
    for a signer who is a registered person, on that person's channel (picked at send
    time; by mail it still goes to the signer's address)."""
    return await enqueue(channel=PERSON if signer.person_id else "mail", template=purpose,
                         recipient=signer.email, language=signer.language, context=context,
                         attachments=attachments, thread=thread, person_id=signer.person_id,
                         signer_id=signer.id, dedup_key=dedup_key)


async def experts_of(cabinet_id: int) -> list[Person]:
    """The cabinet's experts, in a stable order."""
    rows = await (Membership.filter(cabinet_id=cabinet_id, role="expert")
                  .prefetch_related("person").order_by("person_id"))
    return [m.person for m in rows]


async def to_experts(cabinet_id: int, purpose: str, context: dict, *, dedup_key: str,
                     attachments: Iterable[dict] = (), exclude: Iterable[int] = ()
                     ) -> list[Notification]:
    """Records the notice for each expert of the cabinet (but those in `exclude`, person
    ids), each on their channel; the dedup key of each is `<dedup_key>:<person id>`."""
    skip = set(exclude)
    return [await to_person(p, purpose, context, dedup_key=f"{dedup_key}:{p.id}",
                            attachments=attachments)
            for p in await experts_of(cabinet_id) if p.id not in skip]


async def recorded(dedup_key: str) -> bool:
    """Whether a message with this dedup key was already recorded."""
    return await Notification.filter(dedup_key=dedup_key).exists()


async def claim_due(limit: int = 20, *, channel: str | None = None,
                    channels: Iterable[str] | None = None,
                    holder: str | None = None) -> list[Notification]:
    """Claims up to `limit` notifications that are due, each by a conditional update; of
    one `channel`, or of any of `channels` (rows of other channels are left alone). The
    claims name `holder` (workflows.holders), so a restart can tell its own from others'."""
    now = clock.now()
    query = Notification.filter(state="pending", next_attempt_at__lte=now)
    stale = Notification.filter(state="sending", next_attempt_at__lte=now - CLAIM_TIMEOUT)
    if channel:
        query, stale = query.filter(channel=channel), stale.filter(channel=channel)
    if channels is not None:
        wanted = list(channels)
        query, stale = query.filter(channel__in=wanted), stale.filter(channel__in=wanted)
    candidates = list(await query.order_by("id").limit(limit)) + list(
        await stale.order_by("id").limit(limit))
    claimed = []
    for n in candidates[:limit]:
        won = await Notification.filter(id=n.id, state=n.state, attempts=n.attempts).update(
            state="sending", attempts=F("attempts") + 1, next_attempt_at=now, claimed_by=holder)
        if won == 1:
            claimed.append(await Notification.get(id=n.id))
    return claimed


async def resolve(notification: Notification, channel: str, recipient: str,
                  language: str | None = None) -> None:
    """Fixes the channel a PERSON notice goes to, and its recipient on that channel."""
    language = language or notification.language
    await Notification.filter(id=notification.id).update(channel=channel, recipient=recipient,
                                                         language=language)
    notification.channel, notification.recipient = channel, recipient
    notification.language = language


async def release_claims_of_dead(channel: str, home, holder: str) -> int:
    """Takes back the claims of `channel` left in "sending" by `holder` or by a dead process
    of this host and home (workflows.holders); returns how many. The claims of other
    processes, maybe live instances of the fleet, wait for CLAIM_TIMEOUT."""
    sending = await Notification.filter(
        channel=channel, state="sending", claimed_by__startswith=holders.same_place_prefix(home)
    ).values_list("id", "claimed_by")
    mine = [i for i, by in sending if by == holder or holders.left_by_dead_process(by, home)]
    if not mine:
        return 0
    return await Notification.filter(id__in=mine, state="sending").update(state="pending")


async def release(notification: Notification) -> None:
    """Gives back a claim that could not be used (no sender for its channel here), as it
    was: pending, due, the attempt not counted."""
    await Notification.filter(id=notification.id, state="sending").update(
        state="pending", attempts=max(notification.attempts - 1, 0))


# Callbacks run when a message was just recorded that should go out now (a reply to a
# sender): the running dispatchers of this process register their wake-up here.
_nudged: set = set()


def on_nudge(callback) -> None:
    _nudged.add(callback)


def off_nudge(callback) -> None:
    _nudged.discard(callback)


def nudge() -> None:
    """Wakes the dispatchers of this process rather than let them wait for their next poll."""
    for callback in list(_nudged):
        callback()


# What a code looks like once it is blanked from a message's context.
BLANK_CODE = "------"
# Why a text message carrying a code was dropped before it went out: a newer code replaced
# it (sent late, it would carry a dead code). Not a delivery failure.
REPLACED_CODE = "a newer code replaced this one"


def _without_code(notification: Notification) -> dict:
    """The fields that blank a text message's code: once an SMS is out (or will never go),
    its code in clear need not stay in the outbox table. A mail's code stays until the code
    dies (workflows.collections.codes.scrub_codes): the mail worker may still write it."""
    context = notification.context or {}
    if notification.channel == "sms" and context.get("code", BLANK_CODE) != BLANK_CODE:
        return {"context": {**context, "code": BLANK_CODE}}
    return {}


async def mark_sent(notification: Notification, message_id: str | None = None, *,
                    provider_ref: str | None = None) -> None:
    """Records a message as handed over; `provider_ref` is the far end's id of it (an SMS
    gateway's), by which its delivery report finds it (record_report)."""
    await Notification.filter(id=notification.id).update(
        state="sent", sent_at=clock.now(), message_id=message_id, last_error=None,
        provider_ref=provider_ref[:128] if provider_ref else None,
        **_without_code(notification))


async def mark_failed(notification: Notification, error: str) -> bool:
    """Schedules a retry with backoff; returns False when it gave up for good."""
    attempts = notification.attempts
    if attempts > len(BACKOFF):
        await Notification.filter(id=notification.id).update(
            state="failed", last_error=error[:2000], **_without_code(notification))
        return False
    await Notification.filter(id=notification.id).update(
        state="pending", next_attempt_at=clock.now() + BACKOFF[attempts - 1],
        last_error=error[:2000])
    return True


async def mark_refused(notification: Notification, reason: str, text: str) -> None:
    """Fails a notification for good, with the reason a far end gave."""
    await Notification.filter(id=notification.id).update(
        state="failed", failure_reason=reason[:64], last_error=text[:2000],
        **_without_code(notification))


async def record_report(provider_ref: str, delivered: bool, text: str = "") -> bool:
    """Records what a far end reported after sending (an SMS delivery receipt): the
    notification it sent as `provider_ref` is "delivered", or "failed" with the reason
    "sms_undeliverable" and the far end's words. Returns False when no message has that id
    (a report for another deployment, or for a part of a long message after the first)."""
    if not provider_ref:
        return False
    fields: dict = {"delivery_status": "delivered" if delivered else "failed",
                    "reported_at": clock.now()}
    if not delivered:
        fields.update(failure_reason="sms_undeliverable", last_error=text[:2000])
    updated = await Notification.filter(provider_ref=provider_ref[:128], channel="sms").update(
        **fields)
    return updated > 0
