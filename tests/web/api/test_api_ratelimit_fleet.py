"""The API's rate limit holds for the fleet: two instances on one PostgreSQL share each key's
bucket, so together they allow one burst, not two."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import BACKEND
from tests.web.api.conftest import _start, credit_status, seed, stop_all
from web.api.ratelimit import RateLimit
from workflows import rate_buckets

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="SQLite serves one instance, which limits in memory")

# A token comes back every 100 s: nothing refills while the test runs.
LIMIT = RateLimit(rate=0.01, burst=3)


@pytest.fixture
async def two_instances(settings, db):
    started = [await _start(settings, rate_limit=LIMIT) for _ in range(2)]
    keys = await seed(settings)
    async with aiohttp.ClientSession() as session:
        yield session, [f"http://127.0.0.1:{port}/api/v1" for _, _, port in started], keys
    await stop_all(started)


async def test_two_instances_allow_one_burst_between_them(two_instances):
    session, (a, b), keys = two_instances
    assert rate_buckets.shared()
    answers = [await credit_status(session, base, keys["expert"]) for base in (a, b, a, b, a, b)]
    assert [status for status, _ in answers] == [200, 200, 200, 429, 429, 429]
    # The wait told is the bucket's: about 100 s for the next token.
    assert all(60 <= int(after) <= 101 for _, after in answers[3:])
    # Another key has its own bucket, on either instance.
    assert (await credit_status(session, b, keys["beta"]))[0] == 200


async def test_a_burst_at_both_instances_at_once_gets_one_bucket(two_instances):
    session, (a, b), keys = two_instances
    answers = await asyncio.gather(*(credit_status(session, base, keys["sealer"])
                                     for base in [a, b] * 10))
    assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 17


async def test_a_bucket_refills_at_its_rate(db):
    takes = [await rate_buckets.take("test:refill", rate=10.0, burst=2) for _ in range(3)]
    assert takes[:2] == [0.0, 0.0] and 0 < takes[2] <= 0.1
    await asyncio.sleep(0.5)  # Five tokens' worth of time, capped at the burst of two.
    takes = [await rate_buckets.take("test:refill", rate=10.0, burst=2) for _ in range(3)]
    assert takes[:2] == [0.0, 0.0] and 0 < takes[2] <= 0.1


async def test_idle_buckets_are_pruned_and_live_ones_kept(db):
    from workflows import sweeps
    from workflows.models import RateBucket

    for key in ("test:idle", "test:live"):
        assert await rate_buckets.take(key, rate=1.0, burst=5) == 0.0
    await RateBucket._meta.db.execute_query(
        "UPDATE rate_bucket SET updated_at = statement_timestamp() - interval '25 hours' "
        "WHERE key = 'test:idle'")
    assert await sweeps.prune_rate_buckets(None) == 1
    assert [b.key for b in await RateBucket.all()] == ["test:live"]
    assert await sweeps.prune_rate_buckets(None) == 0
