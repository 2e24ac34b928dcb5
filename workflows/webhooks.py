"""Signed webhooks: a cabinet's endpoints, events taken from the evidence log, retried deliveries.

Events are not emitted by each use case: the relay reads the evidence log (every seal,
collection and signer transition is recorded there, whatever the channel) in sequence
order and turns the entries worth telling into events, so no use case can forget one.
Each (event, endpoint) pair is one outbox notification on channel ``webhook``; the
transport in web/ sends it and reports the answer here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from workflows import clock, evidence, notifications, people
from workflows.actors import Actor
from workflows.errors import WebhookInvalidError, WebhookNotFoundError
from workflows.models import (
    Cabinet,
    EvidenceEvent,
    Notification,
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from workflows.transactions import in_transaction
from workflows.webhook_secrets import SecretBox, is_sealed
from workflows.webhook_targets import WebhookTargets

# Evidence kinds that become webhook events.
EVENT_PREFIXES = ("seal.", "collection.", "signer.")
# Evidence data never sent out: how a person reached us, and anything secret-looking.
_PRIVATE_KEYS = ("origin", "token", "code", "otp", "secret", "ip", "user_agent")
SIGNATURE_HEADER = "Paraphe-Signature"
# Retries: exponential from 30 s, at most 6 h apart, and the last one 24 h after the first try.
RETRY_FIRST = timedelta(seconds=30)
RETRY_FACTOR = 3
RETRY_MAX = timedelta(hours=6)
RETRY_WINDOW = timedelta(hours=24)
CURSOR_ID = 1


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint and its signing secret, which is shown once."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class OutgoingDelivery:
    """What the transport posts: the endpoint URL, the exact body and the headers."""

    url: str
    body: bytes
    headers: dict[str, str]
    event_id: str


def _check_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise WebhookInvalidError(f"invalid webhook URL {url!r}: an http(s) URL is needed")
    return url


def _check_events(events: list[str] | None) -> list[str]:
    patterns = [e.strip() for e in (events or []) if e.strip()]
    for pattern in patterns:
        if not pattern.startswith(EVENT_PREFIXES) and pattern != "*":
            raise WebhookInvalidError(
                f"unknown event type {pattern!r}: seal.*, collection.* or signer.*")
    return patterns


async def add_endpoint(actor: Actor, *, cabinet: str, url: str, box: SecretBox,
                       targets: WebhookTargets, events: list[str] | None = None
                       ) -> CreatedEndpoint:
    """Registers an endpoint; raises CabinetNotFoundError, WebhookInvalidError or
    WebhookTargetForbiddenError (the URL reaches a non-public address under `targets`).

    The signing secret is returned once, here; the database keeps it sealed by `box`. A
    person acting (not the operator) must be the cabinet's expert (ExpertRequiredError).
    """
    cab = await people.get_cabinet(cabinet)
    await people.require_expert(actor, cab)
    url, patterns = _check_url(url), _check_events(events)
    await targets.check_url(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with in_transaction():
        endpoint = await WebhookEndpoint.create(cabinet=cab, url=url, events=patterns,
                                                secret=box.seal(secret), created_at=clock.now())
        await evidence.record("webhook.added", actor, cabinet_id=cab.id,
                              data={"endpoint_id": endpoint.id, "url": url, "events": patterns})
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


async def list_endpoints(cabinet: str) -> list[WebhookEndpoint]:
    """The cabinet's active endpoints; raises CabinetNotFoundError."""
    cab = await people.get_cabinet(cabinet)
    return await WebhookEndpoint.filter(cabinet_id=cab.id, removed_at=None).order_by("id")


async def remove_endpoint(actor: Actor, *, cabinet: str, endpoint_id: int) -> None:
    """Stops deliveries to an endpoint; raises CabinetNotFoundError, WebhookNotFoundError or
    ExpertRequiredError (a person who is not the cabinet's expert)."""
    cab = await people.get_cabinet(cabinet)
    await people.require_expert(actor, cab)
    async with in_transaction():
        done = await WebhookEndpoint.filter(id=endpoint_id, cabinet_id=cab.id,
                                            removed_at=None).update(removed_at=clock.now())
        if not done:
            raise WebhookNotFoundError(f"no webhook endpoint {endpoint_id} in {cab.slug}",
                                       endpoint_id=endpoint_id)
        await evidence.record("webhook.removed", actor, cabinet_id=cab.id,
                              data={"endpoint_id": endpoint_id})


async def deliveries(cabinet: str, *, limit: int = 50) -> list[WebhookDelivery]:
    """The latest delivery attempts to the cabinet's endpoints, newest first."""
    cab = await people.get_cabinet(cabinet)
    return await (WebhookDelivery.filter(endpoint__cabinet_id=cab.id)
                  .prefetch_related("event", "endpoint").order_by("-id").limit(limit))


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """True when the endpoint subscribed to this event type (no pattern means all)."""
    return not endpoint.events or any(fnmatch.fnmatchcase(event_type, p) for p in endpoint.events)


def _public_data(data: dict) -> dict:
    return {k: v for k, v in (data or {}).items()
            if not any(word in k.lower() for word in _PRIVATE_KEYS)}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def relay_evidence(limit: int = 500) -> int:
    """Turns new evidence entries into webhook events and queued deliveries; returns how many
    events.

    Safe to run from several workers: the cursor row is locked for the batch and
    events are unique per evidence sequence number.
    """
    if not await WebhookCursor.exists(id=CURSOR_ID):
        await WebhookCursor.get_or_create(id=CURSOR_ID, defaults={"seq": 0})
    created = 0
    async with in_transaction():
        cursor = await WebhookCursor.select_for_update().get(id=CURSOR_ID)
        entries = await EvidenceEvent.filter(seq__gt=cursor.seq).order_by("seq").limit(limit)
        if not entries:
            return 0
        cabinet_ids = {e.cabinet_id for e in entries if e.cabinet_id and
                       e.kind.startswith(EVENT_PREFIXES)}
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        slugs: dict[int, str] = {}
        if cabinet_ids:
            for ep in await WebhookEndpoint.filter(cabinet_id__in=cabinet_ids, removed_at=None):
                endpoints.setdefault(ep.cabinet_id, []).append(ep)
            for cab in await Cabinet.filter(id__in=cabinet_ids):
                slugs[cab.id] = cab.slug
        for entry in entries:
            if not entry.kind.startswith(EVENT_PREFIXES) or not entry.cabinet_id:
                continue
            # An endpoint hears only what happened after it was registered.
            targets = [ep for ep in endpoints.get(entry.cabinet_id, ())
                       if wants(ep, entry.kind) and ep.created_at <= entry.at]
            if not targets:
                continue
            event_id = f"evt_{uuid.uuid4().hex}"
            data = _public_data(entry.data)
            if entry.collection_id is not None:
                data.setdefault("collection_id", entry.collection_id)
            payload = {"id": event_id, "type": entry.kind, "created_at": _iso(entry.at),
                       "cabinet": slugs.get(entry.cabinet_id), "data": data}
            event = await WebhookEvent.create(event_id=event_id, evidence_seq=entry.seq,
                                              cabinet_id=entry.cabinet_id, type=entry.kind,
                                              payload=payload, created_at=clock.now())
            for ep in targets:
                await notifications.enqueue(
                    channel="webhook", template="webhook/event", recipient=f"endpoint:{ep.id}",
                    context={"endpoint_id": ep.id, "event_id": event.id},
                    dedup_key=f"webhook:{event.id}:{ep.id}")
            created += 1
        await WebhookCursor.filter(id=CURSOR_ID).update(seq=entries[-1].seq)
    return created


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                   hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300,
                     now: int | None = None) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, refuse stale times."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    current = int(clock.now().timestamp()) if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


async def claim_due(limit: int = 20) -> list[Notification]:
    """Webhook deliveries due now, each claimed by one worker."""
    return await notifications.claim_due(limit, channel="webhook")


async def seal_stored_secrets(box: SecretBox) -> int:
    """Seals the secrets that an earlier version stored in clear; returns how many."""
    sealed = 0
    for endpoint in await WebhookEndpoint.all().only("id", "secret"):
        if not is_sealed(endpoint.secret):
            sealed += await WebhookEndpoint.filter(id=endpoint.id, secret=endpoint.secret) \
                .update(secret=box.seal(endpoint.secret))
    return sealed


async def prepare(notification: Notification, box: SecretBox) -> OutgoingDelivery | None:
    """The request to send for a claimed delivery, or None when its endpoint was removed."""
    endpoint = await WebhookEndpoint.get_or_none(id=notification.context.get("endpoint_id"))
    event = await WebhookEvent.get_or_none(id=notification.context.get("event_id"))
    if endpoint is None or event is None or endpoint.removed_at is not None:
        await Notification.filter(id=notification.id).update(
            state="failed", last_error="endpoint removed")
        return None
    body = json.dumps(event.payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Paraphe-Webhooks/1",
        "Paraphe-Event-Id": event.event_id,
        "Paraphe-Event-Type": event.type,
        "Paraphe-Delivery-Attempt": str(notification.attempts),
        SIGNATURE_HEADER: sign(box.open(endpoint.secret), timestamp, body),
    }
    return OutgoingDelivery(url=endpoint.url, body=body, headers=headers,
                            event_id=event.event_id)


def next_attempt(first_try: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failures, or None once the 24-hour window is over."""
    deadline = first_try + RETRY_WINDOW
    if now >= deadline:
        return None
    delay = min(RETRY_FIRST * RETRY_FACTOR ** max(attempts - 1, 0), RETRY_MAX)
    return min(now + delay, deadline)


async def record_result(notification: Notification, *, status_code: int | None,
                        error: str | None, duration_ms: int) -> str:
    """Logs one attempt and marks the delivery sent, scheduled again or given up.

    Returns the outcome: ``delivered``, ``retry`` or ``gave_up``.
    """
    ok = status_code is not None and 200 <= status_code < 300
    now = clock.now()
    if ok:
        outcome = "delivered"
        await notifications.mark_sent(notification)
    else:
        when = next_attempt(notification.created_at, notification.attempts, now)
        reason = (error or f"HTTP {status_code}")[:2000]
        if when is None:
            outcome = "gave_up"
            await Notification.filter(id=notification.id).update(state="failed",
                                                                 last_error=reason)
        else:
            outcome = "retry"
            await Notification.filter(id=notification.id).update(
                state="pending", next_attempt_at=when, last_error=reason)
    await WebhookDelivery.create(
        endpoint_id=notification.context.get("endpoint_id"),
        event_id=notification.context.get("event_id"), attempt=notification.attempts,
        status_code=status_code, ok=ok, error=(error or None) and error[:2000],
        duration_ms=duration_ms, outcome=outcome, at=now)
    return outcome
