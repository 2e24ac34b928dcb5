"""The API's token buckets in Redis (PARAPHE_REDIS_URL): every instance using that Redis
shares each key's bucket.

A take is one Lua script, atomic in Redis: the bucket is refilled for the time since its last
take (Redis's own clock, the one every instance sees), a token taken when there is one, and
the key given an expiry past which a full bucket needs no memory. When Redis cannot be
reached the instance limits in memory meanwhile (and says so in its log, at most once a
minute): a rate limit that fails closed would turn a Redis outage into an API outage.
"""

from __future__ import annotations

import logging
import time

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "paraphe:rate:"
# Seconds between two warnings that Redis is unreachable.
WARN_EVERY = 60.0

_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1])
local at = tonumber(held[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Token buckets named by key in one Redis; `take` returns 0 when a token was taken, else
    the seconds until one is there, or None when Redis could not be asked."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url, socket_timeout=2.0,
                                              socket_connect_timeout=2.0)
        self._script = self.client.register_script(_TAKE)
        self._warned = 0.0

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        try:
            wait = float(await self._script(keys=[PREFIX + key], args=[rate, burst]))
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                log.warning("Redis unreachable for the API's rate limits (%s): limiting in "
                            "memory meanwhile", type(exc).__name__)
            return None
        return wait if wait <= 0 else max(wait, 0.001)

    async def close(self) -> None:
        await self.client.aclose()
