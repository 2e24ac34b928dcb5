"""Idempotency-Key for API POSTs: the same key and body replay the first answer, another body is refused."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from workflows import clock
from workflows.errors import (
    ApiRequestInvalidError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
)
from workflows.models import ApiIdempotency

MAX_KEY_LENGTH = 191


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
                                        created_at=clock.now())
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
        raise IdempotencyKeyInProgressError("the first request with this key is still running")
    return StoredAnswer(status=first.status, content_type=first.content_type, body=first.body,
                        document_sha256=first.document_sha256, headers=first.headers or {})


async def finish(api_key_id: int, key: str, answer: StoredAnswer) -> None:
    """Keeps the answer of a request that succeeded, for later replays."""
    await ApiIdempotency.filter(api_key_id=api_key_id, key=key).update(
        status=answer.status, content_type=answer.content_type, body=answer.body,
        document_sha256=answer.document_sha256, headers=answer.headers)


async def abandon(api_key_id: int, key: str) -> None:
    """Frees the key of a request that failed: nothing was done, so a retry may try again."""
    await ApiIdempotency.filter(api_key_id=api_key_id, key=key, status=None).delete()
