"""The places one address may hold in a line, and the operator taking fans out: part of
the QueueStore contract, run against the in-process store and the Redis store."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from redis import Redis

from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from boxoffice.queue.store import Refused, Seen
from tests.conftest import REDIS_URL
from tests.service.lines import FAR, RULES, Line, MakeLine, make_line

__all__ = ["make_line"]  # the fixture, used by name

A, B = "203.0.113.7", "2001:db8::1"


async def _joined(line: Line, user: int, address: str, t: float = 0.0) -> bool:
    return isinstance(await line.join(user, t, address=address), Seen)


async def test_an_address_holds_at_most_its_places_and_others_are_unaffected(
    make_line: MakeLine,
) -> None:
    line = await make_line(capacity=0, places_per_address=2)
    assert [await _joined(line, user, A) for user in (1, 2)] == [True, True]
    assert await line.join(3, address=A) is Refused.AT_CAP
    assert await _joined(line, 4, B)
    assert await _joined(line, 5, B)
    assert await line.join(6, address=B) is Refused.AT_CAP
    assert await line.position(4, 0.0) == 3  # the refused join took no place
    # A fan already in line who joins again is answered with their ticket.
    again = await line.join(1, address=A)
    assert isinstance(again, Seen) and not again.created
    assert await line.store.top_addresses(line.name, count=10) in (
        [(A, 2), (B, 2)],
        [(B, 2), (A, 2)],
    )


async def test_a_place_that_ends_frees_one_for_its_address(make_line: MakeLine) -> None:
    line = await make_line(capacity=0, places_per_address=1, waiter_timeout=30.0)
    assert await _joined(line, 1, A)
    assert await line.join(2, 1.0, address=A) is Refused.AT_CAP
    assert await line.leave(1, 2.0)
    assert await _joined(line, 2, A, 2.0)
    # A silent waiter is dropped, and its place with it.
    assert await line.join(3, 31.0, address=A) is Refused.AT_CAP
    assert await _joined(line, 3, A, 32.0)
    assert await line.store.top_addresses(line.name, count=10) == [(A, 1)]


async def test_no_cap_and_no_address_count_nothing_against_the_cap(make_line: MakeLine) -> None:
    capped = await make_line(capacity=0, places_per_address=1)
    assert [await _joined(capped, user, "") for user in (1, 2, 3)] == [True] * 3
    assert await capped.store.top_addresses(capped.name, count=10) == []
    uncapped = await capped.sibling("concert-9", capacity=0)
    assert [await _joined(uncapped, user, A) for user in (1, 2, 3)] == [True] * 3
    assert await uncapped.store.top_addresses(uncapped.name, count=10) == [(A, 3)]


async def test_a_lower_cap_keeps_the_places_held_and_refuses_new_ones(
    make_line: MakeLine,
) -> None:
    line = await make_line(capacity=0)
    for user in (1, 2, 3):
        assert await _joined(line, user, A)
    await line.store.configure(line.name, replace(RULES, capacity=0, places_per_address=2))
    assert await line.join(4, address=A) is Refused.AT_CAP
    assert [await line.position(u, 0.0) for u in (1, 2, 3)] == [1, 2, 3]


async def test_the_operator_takes_a_fan_or_an_address_out(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    for user, address in ((1, A), (2, B), (3, A), (4, B), (5, A)):
        assert await _joined(line, user, address)
    assert await line.store.evict(line=line.name, user_ids=[2]) == [2]
    assert await line.position(2, 0.0) is None
    assert await line.store.evict(line=line.name, user_ids=[2, 99]) == []
    assert sorted(await line.store.evict(line=line.name, address=A)) == [1, 3, 5]
    assert [await line.position(u, 0.0) for u in (1, 3, 4, 5)] == [None, None, 1, None]
    assert await line.store.top_addresses(line.name, count=10) == [(B, 1)]
    # Taken out, a fan may join again, at the back.
    seen = await line.join(1, address=A)
    assert isinstance(seen, Seen) and seen.created and seen.ticket.position == 2


async def test_the_top_addresses_are_the_most_places_first(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    user = 0
    for index, count in enumerate((1, 4, 2, 3)):
        for _ in range(count):
            user += 1
            assert await _joined(line, user, f"198.51.100.{index}")
    top = await line.store.top_addresses(line.name, count=3)
    assert top == [("198.51.100.1", 4), ("198.51.100.3", 3), ("198.51.100.2", 2)]


async def test_a_sold_out_line_that_lapses_frees_every_place(make_line: MakeLine) -> None:
    line = await make_line(capacity=0, places_per_address=1, waiter_timeout=30.0)
    assert await _joined(line, 1, A)
    line.at(1.0)
    await line.store.set_supply(line.name, seats_left=0, sold_out=True)
    await line.advance(40.0)
    line.at(41.0)
    await line.store.set_supply(line.name, seats_left=5, sold_out=False)
    assert await _joined(line, 2, A, 41.0)


async def test_a_ticket_made_before_addresses_were_kept_is_still_read(redis_prefix: str) -> None:
    """A line in Redis across the upgrade: its tickets have no address field."""
    store = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    client = Redis.from_url(REDIS_URL)
    keys = LineKeys.of(redis_prefix, "default")
    try:
        assert await store.seed("default", replace(RULES, capacity=0, places_per_address=1))
        seen = await store.join(line="default", user_id=1, jti="j1", token_expires_at=FAR)
        assert isinstance(seen, Seen)
        client.hset(keys.tickets, "1", f"j1|1|{seen.ticket.issued_at}|{FAR}")
        assert await store.touch(line="default", user_id=1, jti="j1") is not None
        assert await store.leave(line="default", user_id=1, jti="j1")
    finally:
        client.close()
        await store.close()


async def _crowd_of_one_address(stores: list[RedisQueueStore], join: object) -> int:
    assert callable(join)
    joined = await asyncio.gather(*(join(stores[user % 2], user) for user in range(1, 41)))
    return sum(joined)


async def test_two_instances_joining_at_once_never_pass_the_cap(redis_prefix: str) -> None:
    stores = [RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    try:
        assert await stores[0].seed("default", replace(RULES, capacity=0, places_per_address=5))

        async def join(store: RedisQueueStore, user: int) -> bool:
            seen = await store.join(
                line="default", user_id=user, jti=f"j{user}", token_expires_at=FAR, address=A
            )
            return isinstance(seen, Seen)

        assert await _crowd_of_one_address(stores, join) == 5
    finally:
        for store in stores:
            await store.close()


async def test_control_a_cap_checked_apart_from_the_join_is_passed(redis_prefix: str) -> None:
    """The control: the same crowd against a cap read first and a join made after, two
    steps with other instances' joins between them, lets more in than the cap."""
    stores = [RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    try:
        assert await stores[0].seed("default", replace(RULES, capacity=0))

        async def join(store: RedisQueueStore, user: int) -> bool:
            held = dict(await store.top_addresses("default", count=10)).get(A, 0)
            if held >= 5:
                return False
            seen = await store.join(
                line="default", user_id=user, jti=f"j{user}", token_expires_at=FAR, address=A
            )
            return isinstance(seen, Seen)

        assert await _crowd_of_one_address(stores, join) > 5
    finally:
        for store in stores:
            await store.close()
