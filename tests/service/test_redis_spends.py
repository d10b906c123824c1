"""A payment's end of the visit when Redis fails at that moment: the paid answer
stands, the end is retried in the background, and a retry never ends the visit its
fan has come back to since (told the payment went through, the fan joined again and
was answered with the same ticket, still live). The line's clock is moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from boxoffice.queue.model import DEFAULT_LINE, LineRules, QueueState
from boxoffice.queue.redis_store import ANY_TIME, LeaveItem, RedisQueueStore
from boxoffice.queue.store import Seen
from tests.conftest import REDIS_URL
from tests.support import RedisLineClock

RULES = LineRules(capacity=1, per_minute=60, paused=False, waiter_timeout=30.0, admitted_idle=100.0)
T0 = 1_800_000_000.0
FAR = 10**10


class Store:
    """The store, its line's clock, and its leaves failing when told to."""

    def __init__(self, store: RedisQueueStore, clock: RedisLineClock) -> None:
        self.redis = store
        self._clock = clock
        self.sent: list[str] = []
        self.failing = False
        original = store._send_leaves

        async def send(line: str, batch: list[LeaveItem]) -> list[bool]:
            self.sent.append("failed" if self.failing else "sent")
            if self.failing:
                raise RedisConnectionError("Redis went away")
            return await original(line, batch)

        store._send_leaves = send  # type: ignore[method-assign]

    def at(self, t: float) -> RedisQueueStore:
        self._clock(T0 + t)
        return self.redis

    async def state(self, user: int, t: float) -> QueueState | None:
        found = await self.at(t).gate(line=DEFAULT_LINE, user_id=user, jti=f"j{user}")
        return None if found is None else found.state

    async def pay(self, t: float) -> None:
        """Fan 1 pays at ``t``: gated, then its visit spent while Redis fails."""
        found = await self.at(t).gate(line=DEFAULT_LINE, user_id=1, jti="j1")
        assert found is not None and found.state is QueueState.ADMITTED
        self.failing = True
        await self.redis.spend(line=DEFAULT_LINE, user_id=1, jti="j1", gated_at=found.at)
        self.failing = False  # the answer stands: the spend did not raise

    async def come_back(self, t: float) -> None:
        """Fan 1 joins again and is answered with the same, still live ticket."""
        back = await self.at(t).join(
            line=DEFAULT_LINE, user_id=1, jti="j1-next", token_expires_at=FAR
        )
        assert isinstance(back, Seen) and back.ticket.jti == "j1"


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[Store]:
    """Not started: each test runs the background flush itself, when it wants it."""
    clock = RedisLineClock(REDIS_URL, redis_prefix, line=DEFAULT_LINE)
    clock(T0)
    s = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    await s.seed(DEFAULT_LINE, RULES)
    for user in (1, 2):  # 1 let in, 2 waiting
        await s.join(line=DEFAULT_LINE, user_id=user, jti=f"j{user}", token_expires_at=FAR)
    yield Store(s, clock)
    await s.close()


async def test_a_spend_redis_missed_is_retried_in_the_background(store: Store) -> None:
    await store.pay(1.0)
    assert store.sent == ["failed"]
    assert await store.state(2, 1.5) is QueueState.WAITING
    await store.at(2.0)._flush()
    assert store.sent == ["failed", "sent"]
    assert await store.state(1, 2.0) is None
    assert await store.state(2, 2.0) is QueueState.ADMITTED  # the place freed went on


async def test_a_retried_spend_leaves_the_visit_its_fan_came_back_to(store: Store) -> None:
    await store.pay(1.0)
    await store.come_back(2.0)
    await store.at(3.0)._flush()
    assert store.sent == ["failed", "sent"]
    assert await store.state(1, 3.0) is QueueState.ADMITTED
    assert await store.state(2, 3.0) is QueueState.WAITING


async def test_control_the_same_late_end_without_its_gate_instant_takes_the_visit_in_use(
    store: Store,
) -> None:
    await store.pay(1.0)
    await store.come_back(2.0)
    assert await store.at(3.0)._leave(DEFAULT_LINE, (1, "j1", ANY_TIME))
    assert await store.state(1, 3.0) is None


async def test_a_visit_seen_within_the_clocks_millisecond_of_its_gate_is_still_ended(
    store: Store,
) -> None:
    await store.pay(1.0)
    assert await store.state(1, 1.0005) is QueueState.ADMITTED  # the same instant
    await store.at(2.0)._flush()
    assert await store.state(1, 2.0) is None
