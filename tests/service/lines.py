"""A line in either store, driven by hand: its clock is the test's (the in-process
store's clock, or the Redis store's ``clock_now`` hook), so both stores are held to the
same times. The Redis store runs on the shared Redis and on a Redis Cluster of the
tests' own (three masters)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import ClassVar

import pytest
from redis import RedisCluster

from boxoffice.queue.memory import MemoryQueueStore
from boxoffice.queue.model import DEFAULT_LINE, LineRules, LineStats, QueueState
from boxoffice.queue.redis_client import RedisAddress
from boxoffice.queue.redis_store import CLOCK_NOW_KEY, RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from boxoffice.queue.store import NO_ADDRESS, QueueStore, Refused, Seen
from tests.conftest import REDIS_URL
from tests.support import RedisLineClock

FAR = 10**10
NOW = 1_800_000_000.0  # an epoch-seconds instant; the tests move it by hand
RULES = LineRules(
    capacity=1, per_minute=1000, paused=False, waiter_timeout=30.0, admitted_idle=100.0
)


ClockFor = Callable[[str], Callable[[float], None]]


class Line:
    """One line of a store, at a time the test sets (seconds after ``NOW``)."""

    def __init__(self, store: QueueStore, clock_for: ClockFor, name: str) -> None:
        self.store = store
        self._clock_for = clock_for
        self._set_clock = clock_for(name)
        self.name = name

    async def sibling(self, name: str, **rules: object) -> Line:
        """Another line of the same store, from the time this one is at."""
        assert await self.store.seed(name, replace(RULES, **rules))  # type: ignore[arg-type]
        return Line(self.store, self._clock_for, name)

    def at(self, t: float) -> Line:
        self._set_clock(NOW + t)
        return self

    async def join(
        self, user: int, t: float = 0.0, *, jti: str | None = None, address: str = NO_ADDRESS
    ) -> Seen | Refused:
        self.at(t)
        return await self.store.join(
            line=self.name,
            user_id=user,
            jti=jti or f"j{user}",
            token_expires_at=FAR,
            address=address,
        )

    async def seen(self, user: int, t: float) -> Seen | None:
        self.at(t)
        return await self.store.touch(line=self.name, user_id=user, jti=f"j{user}")

    async def position(self, user: int, t: float) -> int | None:
        seen = await self.seen(user, t)
        return None if seen is None else seen.ticket.position

    async def state(self, user: int, t: float) -> QueueState | None:
        seen = await self.seen(user, t)
        return None if seen is None else seen.ticket.state

    async def leave(self, user: int, t: float) -> bool:
        self.at(t)
        return await self.store.leave(line=self.name, user_id=user, jti=f"j{user}")

    async def advance(self, t: float) -> LineStats:
        self.at(t)
        return await self.store.advance(line=self.name)


MakeLine = Callable[..., Awaitable[Line]]


class ClusterLineClock:
    """``RedisLineClock`` for one line on a cluster: each key goes to its own master."""

    _clients: ClassVar[dict[str, RedisCluster]] = {}

    def __init__(self, url: str, prefix: str, *, line: str) -> None:
        self._redis = self._clients.setdefault(url, RedisCluster.from_url(url))
        self._prefix = prefix
        self._line = LineKeys.of(prefix, line).line

    def __call__(self, now: float) -> None:
        self._redis.set(self._prefix + CLOCK_NOW_KEY, repr(now))
        if self._redis.exists(self._line):
            self._redis.hset(self._line, CLOCK_NOW_KEY, repr(now))


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def make_line(request: pytest.FixtureRequest) -> AsyncIterator[MakeLine]:
    """``await make_line(capacity=…, …)``: a seeded line on a fresh store of the kind."""
    made: list[QueueStore] = []
    clock = [NOW]

    def memory_clock(_line: str) -> Callable[[float], None]:
        def set_clock(t: float) -> None:
            clock[0] = t

        return set_clock

    async def build(name: str = DEFAULT_LINE, **rules: object) -> Line:
        store: QueueStore
        clock_for: ClockFor
        if request.param == "memory":
            store, clock_for = MemoryQueueStore(lambda: clock[0]), memory_clock
        elif request.param == "redis":
            prefix = request.getfixturevalue("redis_prefix")
            store = RedisQueueStore.from_url(REDIS_URL, prefix=prefix)

            def clock_for(line: str) -> Callable[[float], None]:
                return RedisLineClock(REDIS_URL, prefix, line=line)
        else:
            url = request.getfixturevalue("redis_cluster_url")
            prefix = f"boxoffice-test:{uuid.uuid4().hex[:12]}:"
            store = RedisQueueStore.from_url(RedisAddress(url=url, cluster=True), prefix=prefix)

            def clock_for(line: str) -> Callable[[float], None]:
                return ClusterLineClock(url, prefix, line=line)

        made.append(store)
        clock_for(name)(NOW)
        assert await store.seed(name, replace(RULES, **rules))  # type: ignore[arg-type]
        return Line(store, clock_for, name)

    yield build
    for store in made:
        await store.close()
