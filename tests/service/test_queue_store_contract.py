"""The QueueStore contract: one suite, run against the in-process store and the
Redis store, with a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from boxoffice.queue.model import AdmissionRules, QueueState
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.store import MemoryQueueStore, QueueStore
from tests.conftest import REDIS_URL

FAR = 10**10
NOW = 1_800_000_000.0  # an epoch-seconds instant; the tests move it by hand


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., QueueStore]]:
    made: list[QueueStore] = []

    def build(capacity: int = 1, per_minute: int = 1000) -> QueueStore:
        rules = AdmissionRules(
            capacity=capacity,
            per_minute=per_minute,
            paused=False,
            waiter_timeout=30.0,
            admitted_idle=100.0,
        )
        store: QueueStore
        if request.param == "memory":
            store = MemoryQueueStore(rules)
        else:
            prefix = request.getfixturevalue("redis_prefix")
            store = RedisQueueStore.from_url(REDIS_URL, defaults=rules, prefix=prefix)
        made.append(store)
        return store

    yield build
    for store in made:
        await store.close()


async def join(s: QueueStore, user_id: int, now: float = 0.0) -> str:
    ticket, _, _ = await s.join(
        user_id=user_id, jti=f"j{user_id}", now=NOW + now, token_expires_at=FAR
    )
    return ticket.jti


async def position(s: QueueStore, user_id: int, now: float) -> int | None:
    seen = await s.touch(user_id=user_id, jti=f"j{user_id}", now=NOW + now)
    return None if seen is None else seen[0].position


async def test_nobody_is_admitted_ahead_of_an_earlier_live_waiter(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=1)
    for user in (1, 2, 3, 4):
        await join(s, user)
    assert [await position(s, u, 1.0) for u in (1, 2, 3, 4)] == [0, 1, 2, 3]
    await s.leave(user_id=1, jti="j1", now=NOW + 2.0)
    assert [await position(s, u, 2.0) for u in (2, 3, 4)] == [0, 1, 2]


async def test_positions_close_up_when_someone_in_the_middle_leaves(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=0)
    for user in range(1, 6):
        await join(s, user)
    await s.leave(user_id=3, jti="j3", now=NOW + 1.0)
    assert [await position(s, u, 1.0) for u in (1, 2, 4, 5)] == [1, 2, 3, 4]


async def test_joining_again_keeps_the_original_place(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=0)
    await join(s, 1)
    await join(s, 2)
    ticket, _, created = await s.join(user_id=1, jti="other", now=NOW + 1.0, token_expires_at=FAR)
    assert not created
    assert (ticket.jti, ticket.position) == ("j1", 1)


async def test_a_silent_waiter_is_dropped_at_the_timeout(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=0)
    await join(s, 1, now=0.0)
    await join(s, 2, now=0.0)
    assert await position(s, 2, 29.0) == 2
    assert await position(s, 2, 30.0) == 1  # user 1 last seen at 0: gone at 30
    assert await position(s, 1, 30.0) is None


async def test_an_idle_admitted_user_lapses_and_the_next_is_admitted(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=1)
    await join(s, 1, now=0.0)
    await join(s, 2, now=0.0)
    for t in (20.0, 40.0, 60.0, 80.0, 99.9):
        assert await position(s, 2, t) == 1
    stats = await s.advance(now=NOW + 100.0)
    assert (stats.waiting, stats.admitted) == (0, 1)
    assert await position(s, 1, 100.0) is None  # idle since 0, lapsed at 100
    seen = await s.touch(user_id=2, jti="j2", now=NOW + 100.0)
    assert seen is not None
    assert seen[0].state is QueueState.ADMITTED


async def test_the_pace_is_a_sliding_minute(make_store: Callable[..., QueueStore]) -> None:
    s = make_store(capacity=100, per_minute=2)
    for user in (1, 2, 3):
        await join(s, user, now=0.0)
    assert (await s.advance(now=NOW + 1.0)).admitted == 2
    assert await position(s, 3, 25.0) == 1  # still waiting, and still polling
    assert await position(s, 3, 50.0) == 1
    assert (await s.advance(now=NOW + 59.9)).admitted == 2
    stats = await s.advance(now=NOW + 60.0)
    assert (stats.admitted, stats.admitted_last_minute) == (3, 1)


async def test_spending_a_ticket_frees_the_place_at_once(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=1)
    await join(s, 1)
    await join(s, 2)
    await s.spend(user_id=1, jti="j1", now=NOW + 1.0)
    assert await position(s, 2, 1.0) == 0


async def test_a_stale_jti_does_not_act_for_the_users_new_ticket(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=0)
    await join(s, 1)
    await s.leave(user_id=1, jti="j1", now=NOW + 1.0)
    await s.join(user_id=1, jti="fresh", now=NOW + 2.0, token_expires_at=FAR)
    assert await s.touch(user_id=1, jti="j1", now=NOW + 2.0) is None
    assert await s.leave(user_id=1, jti="j1", now=NOW + 2.0) is False


async def test_a_ticket_past_its_token_expiry_is_gone(
    make_store: Callable[..., QueueStore],
) -> None:
    s = make_store(capacity=0)
    await s.join(user_id=1, jti="j1", now=NOW, token_expires_at=int(NOW) + 10)
    assert await s.touch(user_id=1, jti="j1", now=NOW + 9.0) is not None
    assert await s.touch(user_id=1, jti="j1", now=NOW + 10.0) is None
