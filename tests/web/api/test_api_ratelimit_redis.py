"""PARAPHE_REDIS_URL: the API's rate limits live in Redis, shared by every instance using it
(on either database), and an unreachable Redis leaves the API up, limited per instance."""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import pytest
from redis import asyncio as aioredis

from tests.conftest import BACKEND, IN_CI
from tests.web.api.conftest import _start, credit_status, seed, stop_all
from web.api.ratelimit import RateLimit
from web.api.redis_buckets import PREFIX

# The two passes of the suite run side by side: each has its own Redis database.
REDIS_URL = os.environ.get("PARAPHE_TEST_REDIS_URL",
                           f"redis://127.0.0.1:6379/{14 if BACKEND == 'sqlite' else 15}")
# A token comes back every 100 s: nothing refills while the test runs.
LIMIT = RateLimit(rate=0.01, burst=3)


@pytest.fixture
async def redis_db():
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it says the same.
        await client.aclose()
        if IN_CI:
            pytest.fail(f"Redis is required in CI at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def _instances(settings, url: str, count: int):
    shared = settings.model_copy(update={"redis_url": url})
    return [await _start(shared, rate_limit=LIMIT) for _ in range(count)]


async def test_two_instances_share_one_bucket_in_redis(settings, db, redis_db):
    started = await _instances(settings, REDIS_URL, 2)
    keys = await seed(settings)
    try:
        a, b = (f"http://127.0.0.1:{port}/api/v1" for _, _, port in started)
        async with aiohttp.ClientSession() as session:
            answers = [await credit_status(session, base, keys["expert"])
                       for base in (a, b, a, b, a, b)]
            assert [status for status, _ in answers] == [200, 200, 200, 429, 429, 429]
            assert all(60 <= int(after) <= 101 for _, after in answers[3:])
            # A burst at both at once takes from one bucket too.
            burst = await asyncio.gather(*(credit_status(session, base, keys["sealer"])
                                           for base in [a, b] * 10))
            assert sorted(status for status, _ in burst) == [200] * 3 + [429] * 17
            # Another key has its own bucket.
            assert (await credit_status(session, b, keys["beta"]))[0] == 200
    finally:
        await stop_all(started)
    # The buckets are in Redis, each with an expiry: nothing stays once it would be full.
    names = sorted(n.decode() for n in await redis_db.keys(PREFIX + "*"))
    assert len(names) == 3 and all(n.startswith(PREFIX + "api:") for n in names)
    ttls = [await redis_db.ttl(n) for n in names]
    assert all(0 < ttl <= 302 for ttl in ttls), ttls


async def test_an_unreachable_redis_leaves_the_api_up_and_limited(settings, db, caplog):
    # A port nothing listens on.
    started = await _instances(settings, "redis://127.0.0.1:9/0", 1)
    keys = await seed(settings)
    try:
        base = f"http://127.0.0.1:{started[0][2]}/api/v1"
        with caplog.at_level(logging.WARNING, logger="web.api.redis_buckets"):
            async with aiohttp.ClientSession() as session:
                answers = [await credit_status(session, base, keys["expert"]) for _ in range(5)]
        assert [status for status, _ in answers] == [200, 200, 200, 429, 429]
        warnings = [r.getMessage() for r in caplog.records if r.name == "web.api.redis_buckets"]
        assert len(warnings) == 1 and "limiting in memory" in warnings[0]
    finally:
        await stop_all(started)


def test_a_redis_url_must_name_redis(settings):
    with pytest.raises(ValueError, match="PARAPHE_REDIS_URL"):
        settings.model_validate({**settings.model_dump(), "redis_url": "http://127.0.0.1:6379"})
