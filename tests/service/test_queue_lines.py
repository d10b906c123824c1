"""Lines as operators run them, on both stores: a pre-queue ordered by one fair draw
at the opening, a line that closes when its concert sells out, and a line the store
lost (or never had) that must be seeded before anything is written to it."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import replace

import pytest
from redis import Redis

from boxoffice.queue.model import QueueState, draw_rank
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from boxoffice.queue.store import LineAlreadyOpen, LineMissing, Refused, Seen
from tests.conftest import REDIS_URL
from tests.service.lines import FAR, NOW, RULES, Line, MakeLine, make_line

__all__ = ["make_line"]

OPENS = 100.0  # seconds after NOW
SEED = "b2f1c0a9d8e7f6a5b4c3d2e1f0a9b8c7"


async def _pre_queue_line(make_line: MakeLine, **rules: object) -> Line:
    return await make_line(
        "concert-7", **{"capacity": 0, "opens_at": NOW + OPENS, "seed": SEED, **rules}
    )


async def test_fans_who_join_before_the_opening_wait_in_a_pre_queue_with_no_position(
    make_line: MakeLine,
) -> None:
    line = await _pre_queue_line(make_line, capacity=5)
    for user in (1, 2, 3):
        await line.join(user, t=float(user))
    seen = await line.seen(2, 10.0)
    assert seen is not None
    assert (seen.ticket.state, seen.ticket.position) == (QueueState.PRE_QUEUE, None)
    line.at(10.0)
    gate = await line.store.gate(line=line.name, user_id=1, jti="j1")
    assert gate is not None and gate.state is QueueState.PRE_QUEUE  # nobody admitted early
    assert (await line.advance(50.0)).admitted == 0


async def test_the_pre_queue_is_not_dropped_for_silence_before_the_opening(
    make_line: MakeLine,
) -> None:
    line = await _pre_queue_line(make_line)  # waiter timeout 30 s, opening at +100
    await line.join(1, t=0.0)
    assert (await line.advance(OPENS - 1)).waiting == 1
    assert await line.state(1, OPENS + 29) is QueueState.WAITING  # its clock starts at 100


async def test_at_the_opening_the_pre_queue_is_in_draw_order_and_latecomers_are_behind(
    make_line: MakeLine,
) -> None:
    line = await _pre_queue_line(make_line)
    early = list(range(1, 11))
    for user in early:
        await line.join(user, t=float(user))
    await line.join(99, t=OPENS + 1)  # after the opening: the back
    await line.join(98, t=OPENS + 2)
    drawn = sorted(early, key=lambda user: draw_rank(SEED, user))
    positions = {u: await line.position(u, OPENS + 3) for u in [*early, 99, 98]}
    assert sorted(early, key=lambda u: positions[u] or 0) == drawn
    assert [positions[99], positions[98]] == [11, 12]


async def test_admission_after_the_opening_follows_the_draw(make_line: MakeLine) -> None:
    line = await _pre_queue_line(make_line, capacity=3)
    for user in range(1, 9):
        await line.join(user)
    await line.advance(OPENS)
    winners = sorted(range(1, 9), key=lambda user: draw_rank(SEED, user))[:3]
    states = {u: await line.state(u, OPENS) for u in range(1, 9)}
    assert {u for u, s in states.items() if s is QueueState.ADMITTED} == set(winners)


async def test_the_draw_is_recorded_once_with_every_entrant_exactly_once(
    make_line: MakeLine,
) -> None:
    line = await _pre_queue_line(make_line)
    for user in range(1, 31):
        await line.join(user)
    await line.leave(5, 50.0)
    assert await line.store.drawn(line.name) is None  # not open yet
    await line.join(77, t=OPENS + 1)  # the first step after the opening draws
    drawn = await line.store.drawn(line.name)
    assert drawn is not None
    entrants = [u for u in range(1, 31) if u != 5]
    assert drawn.order == sorted(entrants, key=lambda user: draw_rank(SEED, user))
    assert drawn.drawn_at == NOW + OPENS + 1
    await line.store.forget_draw(line.name)
    await line.advance(OPENS + 2)
    assert await line.store.drawn(line.name) is None  # drawn once, not again


def _chi_square(counts: Counter[tuple[int, ...]], outcomes: int, draws: int) -> float:
    expected = draws / outcomes
    return sum((counts.get(p, 0) - expected) ** 2 / expected for p in _ORDERS)


_FANS = (1, 2, 3, 4)
_ORDERS = list(itertools.permutations(_FANS))
# The chi-square statistic above which a fair 24-way draw is rejected at p = 0.001
# (23 degrees of freedom).
_CRITICAL = 49.73


async def _draw_orders(make_line: MakeLine, draws: int, *, fair: bool) -> Counter[tuple[int, ...]]:
    """Many small openings, each with its own seed; the order each one drew."""
    first = await make_line("concert-0", capacity=0)
    counts: Counter[tuple[int, ...]] = Counter()
    for i in range(draws):
        first.at(0.0)  # each new line starts before its opening
        line = await first.sibling(
            f"concert-{i + 1}", capacity=0, opens_at=NOW + OPENS, seed=f"uniformity-{i}"
        )
        await asyncio.gather(
            *(
                line.store.join(line=line.name, user_id=u, jti=f"j{u}", token_expires_at=FAR)
                for u in _FANS
            )
        )
        await line.advance(OPENS)
        drawn = await line.store.drawn(line.name)
        assert drawn is not None
        if not fair:  # the control: first come, first served, as an unfair opening would
            drawn = replace(drawn, order=list(_FANS))
        assert sorted(drawn.order) == list(_FANS)  # nobody lost or duplicated
        counts[tuple(drawn.order)] += 1
    return counts


async def test_the_opening_draw_is_a_uniformly_random_permutation(make_line: MakeLine) -> None:
    draws = 480
    counts = await _draw_orders(make_line, draws, fair=True)
    assert len(counts) == len(_ORDERS)
    assert _chi_square(counts, len(_ORDERS), draws) < _CRITICAL


async def test_control_arrival_order_fails_the_uniformity_check(make_line: MakeLine) -> None:
    draws = 48
    counts = await _draw_orders(make_line, draws, fair=False)
    assert _chi_square(counts, len(_ORDERS), draws) > _CRITICAL


async def test_a_sold_out_line_says_so_takes_nobody_and_lets_its_tokens_lapse(
    make_line: MakeLine,
) -> None:
    line = await make_line(capacity=1, waiter_timeout=30.0)
    await line.join(1)
    await line.join(2)
    line.at(5.0)
    await line.store.set_supply(line.name, seats_left=0, sold_out=True)
    assert await line.state(1, 6.0) is QueueState.SOLD_OUT
    seen = await line.seen(2, 6.0)
    assert seen is not None
    assert (seen.ticket.state, seen.ticket.position) == (QueueState.SOLD_OUT, None)
    assert await line.join(3, t=6.0) is Refused.SOLD_OUT
    assert await line.seen(2, 34.0) is not None  # one waiter timeout after selling out...
    assert await line.seen(2, 35.0) is None  # ...every token lapses
    assert (await line.advance(36.0)).waiting == 0


async def test_a_line_sold_out_and_then_refunded_takes_fans_again(make_line: MakeLine) -> None:
    line = await make_line(capacity=1)
    line.at(1.0)
    await line.store.set_supply(line.name, seats_left=0, sold_out=True)
    assert await line.join(1, t=2.0) is Refused.SOLD_OUT
    line.at(3.0)
    await line.store.set_supply(line.name, seats_left=1, sold_out=False)
    seen = await line.join(1, t=3.0)
    assert isinstance(seen, Seen) and seen.ticket.state is QueueState.ADMITTED
    assert (await line.store.rules(line.name)).seats_left == 1


async def test_a_line_the_store_does_not_have_is_missing(make_line: MakeLine) -> None:
    line = await make_line()
    with pytest.raises(LineMissing):
        await line.store.join(line="concert-404", user_id=1, jti="j1", token_expires_at=10**10)
    with pytest.raises(LineMissing):
        await line.store.rules("concert-404")
    assert not await line.store.seed(line.name, RULES)  # an existing line is kept


async def test_an_opening_in_the_future_is_refused_on_an_open_line_with_fans(
    make_line: MakeLine,
) -> None:
    line = await make_line(capacity=0)
    await line.join(1)
    line.at(1.0)
    with pytest.raises(LineAlreadyOpen):
        await line.store.configure(line.name, replace(RULES, opens_at=NOW + 500, seed=SEED))
    await line.leave(1, 2.0)
    await line.store.configure(line.name, replace(RULES, capacity=0, opens_at=NOW + 500, seed=SEED))
    seen = await line.join(2, t=3.0)
    assert isinstance(seen, Seen) and seen.ticket.state is QueueState.PRE_QUEUE


async def test_a_redis_that_lost_the_line_writes_nothing_until_it_is_seeded(
    redis_prefix: str,
) -> None:
    store = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    client = Redis.from_url(REDIS_URL)
    keys = LineKeys.of(redis_prefix, "default")
    try:
        assert await store.seed("default", RULES)
        seen = await store.join(line="default", user_id=1, jti="j1", token_expires_at=10**10)
        assert isinstance(seen, Seen) and seen.created
        client.delete(*keys.all())  # what a restart without persistence leaves
        with pytest.raises(LineMissing):
            await store.join(line="default", user_id=2, jti="j2", token_expires_at=10**10)
        for step in (
            store.advance(line="default"),
            store.gate(line="default", user_id=1, jti="j1"),
        ):
            with pytest.raises(LineMissing):
                await step
        assert not client.exists(keys.tickets, keys.waiting)  # no half-written ticket
        assert await store.seed("default", RULES)
        assert await store.touch(line="default", user_id=1, jti="j1") is None  # gone for good
        again = await store.join(line="default", user_id=1, jti="j1b", token_expires_at=10**10)
        assert isinstance(again, Seen) and again.created and again.ticket.seq == 1
    finally:
        client.close()
        await store.close()
