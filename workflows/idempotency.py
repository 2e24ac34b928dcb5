"""Idempotency-Key for API POSTs: the same key and body replay the first answer, another body is
refused.

A running request's claim is a lease (LEASE long, held by this process): when the process
that claimed a key died, or its lease ran out, a retry takes the claim over and runs the
request again. What the request bills is keyed in the core too (`Operation`), so a run
that had committed is replayed there and never billed twice.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.errors import (
    ApiRequestInvalidError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
)
from workflows.models import ApiIdempotency

MAX_KEY_LENGTH = 191
# Longer than any request runs (a 10 MB seal takes well under a second); a retry within
# it gets 409 unless the holder is known to be gone.
LEASE = timedelta(minutes=2)
# This process: host, pid, and a token that tells it from an earlier process with the
# same pid (a restarted container's pid 1).
HOLDER = f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(6)}"


@dataclass(frozen=True)
class StoredAnswer:
    """A first answer to replay."""

    status: int
    content_type: str
    body: str
    document_sha256: str | None
    headers: dict


def check_key(key: str) -> str:
    """Raises ApiRequestInvalidError for an empty, too long or non-printable key."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiRequestInvalidError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters")
    return key


async def begin(api_key_id: int, key: str, *, method: str, path: str,
                request_sha256: str) -> StoredAnswer | None:
    """Claims the key for this request, or returns the first answer to replay.

    Raises IdempotencyKeyReusedError (another body or route) and
    IdempotencyKeyInProgressError (the first request is still running).
    """
    check_key(key)
    first = None
    for _ in range(3):
        try:
            await ApiIdempotency.create(api_key_id=api_key_id, key=key, method=method,
                                        path=path, request_sha256=request_sha256,
                                        created_at=clock.now(), holder=HOLDER,
                                        claimed_until=clock.now() + LEASE)
            return None
        except IntegrityError:
            pass
        # The holder of the key may have just failed and freed it: then claim it again.
        first = await ApiIdempotency.get_or_none(api_key_id=api_key_id, key=key)
        if first is not None:
            break
    if first is None:
        raise IdempotencyKeyInProgressError("the first request with this key is still running")
    if first.request_sha256 != request_sha256 or first.method != method or first.path != path:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used with another request")
    if first.status is None:
        if not (_lapsed(first) and await _take_over(first)):
            raise IdempotencyKeyInProgressError(
                "the first request with this key is still running")
        return None
    return StoredAnswer(status=first.status, content_type=first.content_type, body=first.body,
                        document_sha256=first.document_sha256, headers=first.headers or {})


def _lapsed(claim: ApiIdempotency) -> bool:
    """Whether a running claim may be taken over: its lease is over, or its process is
    known to be gone (one on this host that no longer runs, or an earlier process of our
    pid)."""
    if claim.claimed_until is None or claim.claimed_until <= clock.now():
        return True
    parts = (claim.holder or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname()[:64] or not parts[1].isdigit():
        return False
    if claim.holder == HOLDER:
        return False
    if int(parts[1]) == os.getpid():
        return True
    return not _running(int(parts[1]))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Someone else's process: alive.
        return True
    return True


async def _take_over(claim: ApiIdempotency) -> bool:
    """Moves the claim to this process in one conditional statement; False when another
    retry took it first."""
    return await ApiIdempotency.filter(
        id=claim.id, status=None, holder=claim.holder, claimed_until=claim.claimed_until
    ).update(holder=HOLDER, claimed_until=clock.now() + LEASE) == 1


async def finish(api_key_id: int, key: str, answer: StoredAnswer) -> None:
    """Keeps the answer of a request that succeeded, for later replays."""
    await ApiIdempotency.filter(api_key_id=api_key_id, key=key).update(
        status=answer.status, content_type=answer.content_type, body=answer.body,
        document_sha256=answer.document_sha256, headers=answer.headers)


async def abandon(api_key_id: int, key: str) -> None:
    """Frees the key of a request that failed: nothing was done, so a retry may try again."""
    # Only our own claim: a retry that took it over (our lease ran out) keeps it.
    await ApiIdempotency.filter(api_key_id=api_key_id, key=key, status=None,
                                holder=HOLDER).delete()
