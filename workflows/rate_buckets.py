"""Token buckets in PostgreSQL, so that the instances sharing one database share each limit.

A take is one statement: an upsert whose update only happens when the bucket, refilled
for the time since its last take, holds a whole token; PostgreSQL's row lock orders
concurrent takes from any instance. Time is the database's (statement_timestamp()), the
one clock every instance sees. On SQLite (one instance) callers keep their buckets in
memory: `shared()` says which.
"""

from __future__ import annotations

from workflows.models import RateBucket

# The bucket refilled for the time since its last take, capped at the burst.
_REFILL = ("LEAST($2::float8, b.tokens + EXTRACT(EPOCH FROM statement_timestamp() - b.updated_at)"
           "::float8 * $3::float8)")
_TAKE = (
    "INSERT INTO rate_bucket AS b (key, tokens, updated_at) "
    "VALUES ($1, $2::float8 - 1, statement_timestamp()) "
    f"ON CONFLICT (key) DO UPDATE SET tokens = {_REFILL} - 1, updated_at = statement_timestamp() "
    f"WHERE {_REFILL} >= 1 RETURNING b.tokens")
# A bucket not taken from for this long is full again for any rate the service uses (the
# API's refills in seconds): its row says nothing a new row would not.
IDLE = 24 * 3600
_PRUNE = ("DELETE FROM rate_bucket WHERE key IN (SELECT key FROM rate_bucket WHERE updated_at "
          "< statement_timestamp() - make_interval(secs => $1) LIMIT $2)")
_LEVEL = f"SELECT {_REFILL} AS tokens FROM rate_bucket AS b WHERE b.key = $1"


def shared() -> bool:
    """Whether the database can hold buckets for every instance (PostgreSQL)."""
    return RateBucket._meta.db.capabilities.dialect == "postgres"


async def take(key: str, *, rate: float, burst: int) -> float:
    """Takes one token from the bucket `key` (`rate` tokens a second, at most `burst`, full
    when new); returns 0 when taken, else the seconds until a token is there. PostgreSQL."""
    db = RateBucket._meta.db
    if await db.execute_query_dict(_TAKE, [key, float(burst), float(rate)]):
        return 0.0
    rows = await db.execute_query_dict(_LEVEL, [key, float(burst), float(rate)])
    tokens = rows[0]["tokens"] if rows else 0.0
    # Refused, so never 0 (which means taken) even if a token came since.
    return max((1.0 - tokens) / rate, 0.001)


async def prune(*, idle_seconds: float = IDLE, limit: int = 10_000) -> int:
    """Deletes up to `limit` buckets idle for `idle_seconds`; returns how many. PostgreSQL."""
    db = RateBucket._meta.db
    count, _ = await db.execute_query(_PRUNE, [float(idle_seconds), limit])
    return count
