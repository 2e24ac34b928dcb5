"""Per-key token buckets: in Redis when PARAPHE_REDIS_URL is set (web.api.redis_buckets); else
in PostgreSQL when the service runs on it, so that the instances sharing the database share
each key's rate (workflows.rate_buckets); in memory on SQLite, where one instance serves."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from workflows import rate_buckets


@dataclass
class RateLimit:
    """`rate` requests per second on average, bursts of `burst`."""

    rate: float = 50.0
    burst: int = 100


class TokenBuckets:
    """The buckets of one process."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, key_id: int) -> float:
        """Takes one token; returns 0 when allowed, else the seconds to wait for one."""
        # The monotonic clock, not workflows.clock: tests fast-forward days, not rate windows.
        now = time.monotonic()
        tokens, last = self._buckets.get(key_id, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        if tokens >= 1:
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1 - tokens) / self.limit.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


class ApiBuckets:
    """One bucket per API key, shared through the database where it can be."""

    def __init__(self, limit: RateLimit, redis_url: str | None = None) -> None:
        self.limit = limit
        self._local = TokenBuckets(limit)
        self._redis = None
        if redis_url:
            from web.api.redis_buckets import RedisBuckets

            self._redis = RedisBuckets(redis_url)

    async def take(self, key_id: int) -> float:
        """Takes one token; returns 0 when allowed, else the seconds to wait for one."""
        if self._redis is not None:
            wait = await self._redis.take(f"api:{key_id}", rate=self.limit.rate,
                                          burst=self.limit.burst)
            if wait is not None:
                return wait
            return self._local.take(key_id)  # Redis away: this instance limits alone.
        if rate_buckets.shared():
            return await rate_buckets.take(f"api:{key_id}", rate=self.limit.rate,
                                           burst=self.limit.burst)
        return self._local.take(key_id)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()
