"""Idempotent sweeps the scheduler runs: expire, remind, warn of deadlines, finish completions.

Each sweep claims its rows with a conditional update (state, or a reminder counter), so
several instances running the same sweep never act twice on one row; and the runtime runs
each one on one instance per period (workflows.leases), except those in EVERY_INSTANCE.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from workflows import anchors, archive, clock, evidence, rate_buckets
from workflows.actors import Actor
from workflows.collections import expire, finalize_pending, notices
from workflows.identity_vault import IdentityVault
from workflows.models import Collection, EvidenceAnchor, IdentityDocument, Signer
from workflows.services import Services
from workflows.transactions import in_transaction


log = logging.getLogger("paraphe.sweeps")

# Reminders to signers who have not signed: these many days after they were asked…
REMINDER_DAYS = (3, 7)
# …and a last warning this long before the deadline.
LAST_WARNING_BEFORE = timedelta(days=2)
BATCH = 200

SCHEDULE = {"expire_due": 60, "remind_due": 300, "finalize_due": 120, "warn_expiring": 300,
            "erase_identity_documents": 3600,
            "anchor_evidence": 300, "renew_archive_timestamps": 6 * 3600,
            "renew_ocsp_responders": 3600, "prune_rate_buckets": 3600}
# Sweeps every instance runs (no lease): renewing the OCSP responders also loads into this
# process the certificates another instance renewed.
EVERY_INSTANCE = frozenset({"renew_ocsp_responders"})


async def expire_due(svc: Services, limit: int = BATCH) -> int:
    """Ends collections whose deadline has passed; returns how many this call ended."""
    due = await Collection.filter(state="in_progress", expires_at__lte=clock.now()).order_by(
        "expires_at").limit(limit)
    count = 0
    for collection in due:
        if await expire(svc, collection):
            count += 1
    return count


async def warn_expiring(svc: Services, limit: int = BATCH) -> int:
    """Warns of collections whose deadline is within PARAPHE_EXPIRY_WARNING_DAYS; returns how many.

    A collection is warned about once: the claim sets expiry_warned_at where it is
    still null, in the same transaction as the notices, so a crash leaves neither.
    """
    now = clock.now()
    horizon = now + timedelta(days=svc.settings.expiry_warning_days)
    due = await (Collection.filter(state="in_progress", expiry_warned_at=None,
                                   expires_at__gt=now, expires_at__lte=horizon)
                 .order_by("expires_at").limit(limit))
    count = 0
    for collection in due:
        async with in_transaction():
            claimed = await Collection.filter(id=collection.id, state="in_progress",
                                              expiry_warned_at=None).update(expiry_warned_at=now)
            if claimed != 1:
                continue
            await notices.expiry_warning(collection)
        count += 1
    return count


async def remind_due(svc: Services, limit: int = BATCH) -> int:
    """Sends the reminders that are due (days 3 and 7, last warning); returns how many."""
    now = clock.now()
    count = 0
    contexts: dict[int, dict] = {}
    base = Signer.filter(state="pending", notified_at__not_isnull=True,
                         collection__state="in_progress")
    # Each query selects only rows that are due, so a large backlog never hides later ones.
    queries = [("last_warning", base.filter(
        last_warning_at=None, collection__expires_at__lte=now + LAST_WARNING_BEFORE))]
    for done, days in enumerate(REMINDER_DAYS):
        queries.append(("reminder", base.filter(
            reminders_sent=done, notified_at__lte=now - timedelta(days=days))))
    for stage, query in queries:
        for signer in await query.prefetch_related("collection").order_by("id").limit(limit):
            if count >= limit:
                return count
            if await _send_due(svc, signer, stage, now, contexts):
                count += 1
    return count


async def _send_due(svc: Services, signer: Signer, stage: str, now, contexts: dict) -> bool:
    collection = signer.collection
    if stage == "last_warning":
        claimed = await Signer.filter(id=signer.id, last_warning_at=None).update(
            last_warning_at=now, last_reminded_at=now)
        number = 1
    else:
        # A manual reminder counts too; a scheduled one never follows it within a day.
        if signer.last_reminded_at and now - signer.last_reminded_at < timedelta(days=1):
            return False
        # The claim: only the instance that moves the counter from its old value sends.
        claimed = await Signer.filter(id=signer.id, reminders_sent=signer.reminders_sent).update(
            reminders_sent=signer.reminders_sent + 1, last_reminded_at=now)
        number = signer.reminders_sent + 1
    if claimed != 1:
        return False
    if collection.id not in contexts:
        contexts[collection.id] = await notices.collection_context(collection)
    await notices.remind(svc, collection, signer, stage=stage, number=number,
                         context=contexts[collection.id])
    return True


async def finalize_due(svc: Services) -> int:
    """Finishes completed collections whose timestamps or report a crash left undone."""
    try:
        return await finalize_pending(svc)
    except Exception:  # noqa: BLE001 - the next run retries; the scheduler must not die.
        log.exception("finalising collections failed")
        return 0


async def renew_archive_timestamps(svc: Services) -> int:
    """Gives stored signed documents a fresh archive timestamp before their newest one's TSA
    certificate comes within PARAPHE_ARCHIVE_RENEW_BEFORE of expiry (workflows.archive);
    a document is claimed by a conditional update, so instances may run it side by side.
    Returns how many were renewed."""

    try:
        return len(await archive.renew_due(svc))
    except Exception:  # noqa: BLE001 - the next run retries; the scheduler must not die.
        log.exception("renewing archive timestamps failed")
        return 0


async def erase_identity_documents(svc: Services, limit: int = BATCH) -> int:
    """Erases the identity documents whose retention is over: those of registrations
    reviewed more than `identity_retention_days` ago, and those of registrations left in
    progress as long. Erasing a file twice is harmless and the row is marked by a
    conditional update, so several instances may run it; returns how many it erased."""
    now = clock.now()
    cutoff = now - timedelta(days=svc.settings.identity_retention_days)
    live = IdentityDocument.filter(deleted_at=None)
    due = list(await live.filter(registration__reviewed_at__lte=cutoff).order_by("id").limit(limit))
    due += await live.filter(registration__state="in_progress",
                             registration__updated_at__lte=cutoff).order_by("id").limit(limit)
    vault = IdentityVault(svc.settings)
    count = 0
    for doc in due[:limit]:
        await vault.remove(doc.storage_ref)
        if await IdentityDocument.filter(id=doc.id, deleted_at=None).update(deleted_at=now) == 1:
            count += 1
            await evidence.record("identity_document.erased", Actor.system(),
                                  data={"registration": doc.registration_id, "side": doc.side,
                                        "sha256": doc.sha256, "reason": "retention"})
    return count


async def anchor_evidence(svc: Services) -> int:
    """Seals the evidence chain's head with an RFC 3161 timestamp when it moved since the
    last anchor (workflows.anchors), so a cut or recomputed chain shows; returns how many
    anchors it made (0 or 1)."""

    last = await EvidenceAnchor.all().order_by("-seq").first()
    try:
        anchor = await anchors.anchor_head(svc)
    except Exception:  # noqa: BLE001 - the next run retries; the scheduler must not die.
        log.exception("anchoring the evidence chain failed")
        return 0
    return int(anchor is not None and (last is None or anchor.seq != last.seq))


async def renew_ocsp_responders(svc: Services) -> list[str]:
    """Renews the OCSP responder certificates that end within a few days (they live a week,
    workflows.trust.profiles), and loads those another instance renewed."""
    renewed = await svc.trust.renew_ocsp_responders()
    if renewed:
        log.info("OCSP responder certificates renewed: %s", ", ".join(renewed))
    return renewed


async def prune_rate_buckets(svc: Services) -> int:
    """Drops the shared rate buckets (PostgreSQL) idle for a day: full again, they need no
    row. Returns how many went."""
    if not rate_buckets.shared():
        return 0
    return await rate_buckets.prune()
