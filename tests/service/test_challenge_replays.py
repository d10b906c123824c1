"""A solution is taken once, by whichever instance sees it first: the replay store,
run against the in-process one and the shared Redis one (a key space of the test's
own), with a control that shows two instances do race for one solution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from boxoffice.config import Settings
from boxoffice.errors import ChallengeRequired
from boxoffice.queue.challenge import (
    ChallengeLevel,
    Challenges,
    MemoryReplays,
    RedisReplays,
    Replays,
)
from tests.conftest import REDIS_URL
from tests.unit.test_challenge import NOW, SECRET, SMALL, TTL, solved

STORES = ("memory", "redis")


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=STORES)
def instances(
    request: pytest.FixtureRequest,
) -> Callable[[], Challenges]:
    """Instances of one deployment: in memory, one process's; on Redis, any number,
    sharing the replay store under the test's prefix."""
    if request.param == "memory":
        shared = MemoryReplays()
        return lambda: make(shared)
    prefix = request.getfixturevalue("redis_prefix")
    client = request.getfixturevalue("redis_client")
    shared_redis = RedisReplays(client, prefix=f"{prefix}proofs:")
    return lambda: make(shared_redis)


def make(replays: Replays) -> Challenges:
    return Challenges(secret_key=SECRET, ttl_seconds=TTL, replays=replays, max_numbers=SMALL)


async def accepted(challenges: Challenges, proof: str) -> bool:
    try:
        await challenges.accept(proof, user_id=7, line="default", now=NOW + 1)
    except ChallengeRequired as refused:
        assert "already been used" in refused.detail
        return False
    return True


async def test_a_solution_is_taken_once(instances: Callable[[], Challenges]) -> None:
    challenges = instances()
    proof = solved(challenges.issue(user_id=7, line="default", level=ChallengeLevel.LOW, now=NOW))
    assert await accepted(challenges, proof)
    assert not await accepted(challenges, proof)


async def test_of_instances_given_one_solution_at_once_exactly_one_takes_it(
    instances: Callable[[], Challenges],
) -> None:
    first, second = instances(), instances()
    for _ in range(20):
        challenge = first.issue(user_id=7, line="default", level=ChallengeLevel.LOW, now=NOW)
        proof = solved(challenge)
        results = await asyncio.gather(accepted(first, proof), accepted(second, proof))
        assert sorted(results) == [False, True]


async def test_the_redis_store_keeps_a_solution_until_its_challenge_expires(
    redis_client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    settings = Settings(secret_key=SECRET, redis_prefix=redis_prefix, challenge_ttl_seconds=TTL)
    challenges = Challenges.from_settings(settings, redis_client)
    challenge = challenges.issue(user_id=7, line="default", level=ChallengeLevel.LOW, now=NOW)
    await challenges.accept(solved(challenge), user_id=7, line="default", now=NOW + 100)
    keys = [key async for key in redis_client.scan_iter(match=f"{redis_prefix}proofs:*")]
    assert keys == [f"{redis_prefix}proofs:{challenge['challenge']}".encode()]
    assert TTL - 100 - 2 <= await redis_client.ttl(keys[0]) <= TTL - 100


class LookThenWrite:
    """A replay store that reads, then writes: the check and the record are two steps."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def first_use(self, key: str, *, ttl_seconds: int, now: float) -> bool:
        if await self._client.exists(self._prefix + key):
            return False
        await self._client.set(self._prefix + key, b"1", ex=ttl_seconds)
        return True


async def test_control_a_store_that_looks_then_writes_takes_one_solution_twice(
    redis_client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    replays = LookThenWrite(redis_client, redis_prefix)
    first, second = make(replays), make(replays)
    twice = 0
    for _ in range(20):
        challenge = first.issue(user_id=7, line="default", level=ChallengeLevel.LOW, now=NOW)
        proof = solved(challenge)
        results = await asyncio.gather(accepted(first, proof), accepted(second, proof))
        twice += all(results)
    assert twice > 0
