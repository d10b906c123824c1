"""The QueueStore contract: one suite, run against the in-process store and the Redis
store, with the line's clock moved by hand."""

from __future__ import annotations

from boxoffice.queue.model import QueueState
from boxoffice.queue.store import Seen
from tests.service.lines import NOW, Line, MakeLine, make_line

__all__ = ["make_line"]  # the fixture, used by name

# Two lines whose hash tags a three-master cluster puts on different masters
# (tests/integration/test_redis_cluster.py checks that it does).
TWO_LINES = ("concert-1", "concert-3")


async def test_nobody_is_admitted_ahead_of_an_earlier_live_waiter(make_line: MakeLine) -> None:
    line = await make_line(capacity=1)
    for user in (1, 2, 3, 4):
        await line.join(user)
    assert [await line.position(u, 1.0) for u in (1, 2, 3, 4)] == [0, 1, 2, 3]
    await line.leave(1, 2.0)
    assert [await line.position(u, 2.0) for u in (2, 3, 4)] == [0, 1, 2]


async def test_positions_close_up_when_someone_in_the_middle_leaves(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    for user in range(1, 6):
        await line.join(user)
    await line.leave(3, 1.0)
    assert [await line.position(u, 1.0) for u in (1, 2, 4, 5)] == [1, 2, 3, 4]


async def test_joining_again_keeps_the_original_place(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    await line.join(1)
    await line.join(2)
    seen = await line.join(1, 1.0, jti="other")
    assert isinstance(seen, Seen) and not seen.created
    assert (seen.ticket.jti, seen.ticket.position) == ("j1", 1)


async def test_a_silent_waiter_is_dropped_at_the_timeout(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    await line.join(1)
    await line.join(2)
    assert await line.position(2, 29.0) == 2
    assert await line.position(2, 30.0) == 1  # user 1 last seen at 0: gone at 30
    assert await line.position(1, 30.0) is None


async def test_an_idle_admitted_user_lapses_and_the_next_is_admitted(make_line: MakeLine) -> None:
    line = await make_line(capacity=1)
    await line.join(1)
    await line.join(2)
    for t in (20.0, 40.0, 60.0, 80.0, 99.9):
        assert await line.position(2, t) == 1
    stats = await line.advance(100.0)
    assert (stats.waiting, stats.admitted) == (0, 1)
    assert await line.position(1, 100.0) is None  # idle since 0, lapsed at 100
    assert await line.state(2, 100.0) is QueueState.ADMITTED


async def test_the_pace_is_a_sliding_minute(make_line: MakeLine) -> None:
    line = await make_line(capacity=100, per_minute=2)
    for user in (1, 2, 3):
        await line.join(user)
    assert (await line.advance(1.0)).admitted == 2
    assert await line.position(3, 25.0) == 1  # still waiting, and still polling
    assert await line.position(3, 50.0) == 1
    assert (await line.advance(59.9)).admitted == 2
    stats = await line.advance(60.0)
    assert (stats.admitted, stats.admitted_last_minute) == (3, 1)


async def _gated_at(line: Line, user: int, t: float) -> float:
    line.at(t)
    found = await line.store.gate(line=line.name, user_id=user, jti=f"j{user}")
    assert found is not None and found.state is QueueState.ADMITTED
    return found.at


async def test_spending_a_ticket_frees_the_place_at_once(make_line: MakeLine) -> None:
    line = await make_line(capacity=1)
    await line.join(1)
    await line.join(2)
    gated_at = await _gated_at(line, 1, 1.0)
    line.at(1.0)
    await line.store.spend(line=line.name, user_id=1, jti="j1", gated_at=gated_at)
    assert await line.position(2, 1.0) == 0
    assert await line.seen(1, 1.0) is None


async def test_a_spend_ends_the_visit_whatever_the_fan_did_during_the_payment(
    make_line: MakeLine,
) -> None:
    """The fan's page refreshed its seat map (a gate) while the payment ran, or the
    fan clicked Pay twice: the paid visit ends all the same."""
    line = await make_line(capacity=1)
    await line.join(1)
    await line.join(2)
    gated_at = await _gated_at(line, 1, 1.0)
    await _gated_at(line, 1, 1.05)
    line.at(1.1)
    await line.store.spend(line=line.name, user_id=1, jti="j1", gated_at=gated_at)
    assert await line.seen(1, 1.1) is None
    assert await line.position(2, 1.1) == 0


async def test_a_stale_jti_does_not_act_for_the_users_new_ticket(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    await line.join(1)
    await line.leave(1, 1.0)
    await line.join(1, 2.0, jti="fresh")
    assert await line.seen(1, 2.0) is None
    assert await line.leave(1, 2.0) is False


async def test_a_ticket_past_its_token_expiry_is_gone(make_line: MakeLine) -> None:
    line = await make_line(capacity=0)
    line.at(0.0)
    await line.store.join(line=line.name, user_id=1, jti="j1", token_expires_at=int(NOW) + 10)
    assert await line.seen(1, 9.0) is not None
    assert await line.seen(1, 10.0) is None


async def test_expiry_is_told_on_the_lines_own_clock(make_line: MakeLine) -> None:
    line = await make_line(capacity=0, waiter_timeout=45.0)
    await line.join(1)
    seen = await line.seen(1, 10.0)
    assert seen is not None
    assert (seen.now, seen.ticket.lapses_at) == (NOW + 10.0, NOW + 55.0)


async def test_the_gate_answers_state_and_position_and_marks_the_fan_seen(
    make_line: MakeLine,
) -> None:
    line = await make_line(capacity=1, waiter_timeout=30.0)
    await line.join(1)
    await line.join(2)
    line.at(20.0)
    first = await line.store.gate(line=line.name, user_id=1, jti="j1")
    second = await line.store.gate(line=line.name, user_id=2, jti="j2")
    assert (first, second) is not None
    assert first is not None and second is not None
    assert (first.state, first.position) == (QueueState.ADMITTED, 0)
    assert (second.state, second.position) == (QueueState.WAITING, 1)
    assert await line.position(2, 45.0) == 1  # seen by the gate at 20: alive at 45
    assert await line.store.gate(line=line.name, user_id=2, jti="wrong") is None


async def test_lines_are_independent(make_line: MakeLine) -> None:
    first = await make_line(TWO_LINES[0], capacity=0)
    second = await first.sibling(TWO_LINES[1], capacity=1)
    await first.join(1)
    await second.join(1)
    await first.join(2)
    assert await first.position(1, 1.0) == 1
    assert await second.position(1, 1.0) == 0
    assert await first.position(2, 1.0) == 2
    assert await second.seen(2, 1.0) is None
