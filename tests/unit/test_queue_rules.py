"""Pure waiting-room rules: admission, ETA, poll interval, liveness."""

from __future__ import annotations

from dataclasses import replace

import pytest

from boxoffice.queue.model import (
    LineRules,
    LineStats,
    QueueState,
    admissible,
    draw_rank,
    estimate_wait,
    is_stale,
    join_place,
    lapses_at,
    poll_after,
    seen_at,
    shown_position,
    sold_out_lapsed,
    ticket_state,
)


def rules(**changes: object) -> LineRules:
    base = LineRules(
        capacity=100, per_minute=600, paused=False, waiter_timeout=60.0, admitted_idle=600.0
    )
    return base.changed(
        capacity=changes.get("capacity"),  # type: ignore[arg-type]
        per_minute=changes.get("per_minute"),  # type: ignore[arg-type]
        paused=changes.get("paused"),  # type: ignore[arg-type]
    )


def stats(admitted_last_minute: int = 0, observed: float = 60.0) -> LineStats:
    return LineStats(
        waiting=0, admitted=0, admitted_last_minute=admitted_last_minute, observed_seconds=observed
    )


def test_admission_fills_free_places_from_the_head() -> None:
    assert (
        admissible(waiting=500, admitted=90, admitted_last_minute=0, rules=rules(), now=0.0) == 10
    )


def test_admission_never_passes_capacity() -> None:
    assert (
        admissible(waiting=500, admitted=100, admitted_last_minute=0, rules=rules(), now=0.0) == 0
    )
    assert (
        admissible(waiting=500, admitted=120, admitted_last_minute=0, rules=rules(), now=0.0) == 0
    )


def test_admission_keeps_to_the_pace_per_minute() -> None:
    r = rules(per_minute=30)
    assert admissible(waiting=500, admitted=0, admitted_last_minute=25, rules=r, now=0.0) == 5
    assert admissible(waiting=500, admitted=0, admitted_last_minute=30, rules=r, now=0.0) == 0


def test_admission_admits_no_more_than_are_waiting() -> None:
    assert admissible(waiting=3, admitted=0, admitted_last_minute=0, rules=rules(), now=0.0) == 3


def test_a_paused_room_admits_nobody() -> None:
    assert (
        admissible(waiting=5, admitted=0, admitted_last_minute=0, rules=rules(paused=True), now=0.0)
        == 0
    )


def test_the_wait_is_unknown_until_someone_has_been_admitted() -> None:
    assert estimate_wait(position=10, stats=stats(0), rules=rules()) is None


def test_the_wait_follows_the_measured_rate() -> None:
    # 120 admitted in the last minute: 2 per second, so position 10 waits 5 s.
    assert estimate_wait(position=10, stats=stats(120), rules=rules()) == 5


def test_a_short_burst_is_measured_over_the_time_watched_but_capped_by_the_pace() -> None:
    # 50 admitted in the first 5 s is 10/s, but the pace allows 600/min = 10/s.
    assert estimate_wait(position=100, stats=stats(50, observed=5), rules=rules()) == 10
    slow = rules(per_minute=60)
    assert estimate_wait(position=100, stats=stats(50, observed=5), rules=slow) == 100


def test_the_admitted_wait_nothing_and_a_paused_line_has_no_estimate() -> None:
    assert estimate_wait(position=0, stats=stats(0), rules=rules()) == 0
    assert estimate_wait(position=5, stats=stats(100), rules=rules(paused=True)) is None


@pytest.mark.parametrize(
    ("position", "expected"), [(1, 1), (20, 1), (21, 2), (70, 2), (71, 3), (10_000, 15)]
)
def test_the_poll_interval_grows_with_the_distance_from_the_front(
    position: int, expected: int
) -> None:
    assert poll_after(position=position, rules=rules()) == expected


def test_the_poll_interval_leaves_room_to_poll_before_the_waiter_timeout() -> None:
    short = LineRules(
        capacity=1, per_minute=1, paused=False, waiter_timeout=9.0, admitted_idle=60.0
    )
    assert poll_after(position=10_000, rules=short) == 3


def test_a_waiter_is_stale_exactly_at_the_timeout() -> None:
    assert not is_stale(last_seen=100.0, now=159.999, timeout=60.0)
    assert is_stale(last_seen=100.0, now=160.0, timeout=60.0)


def test_lapse_times_depend_on_the_state() -> None:
    r = rules()
    assert lapses_at(admitted=False, last_seen=10.0, rules=r) == 70.0
    assert lapses_at(admitted=True, last_seen=10.0, rules=r) == 610.0


def test_nobody_is_admitted_before_the_opening_or_once_sold_out() -> None:
    before = replace(rules(), opens_at=100.0)
    assert admissible(waiting=5, admitted=0, admitted_last_minute=0, rules=before, now=99.9) == 0
    assert admissible(waiting=5, admitted=0, admitted_last_minute=0, rules=before, now=100) == 5
    sold = replace(rules(), sold_out_at=50.0)
    assert admissible(waiting=5, admitted=0, admitted_last_minute=0, rules=sold, now=60.0) == 0


def test_a_tickets_state_comes_from_the_line() -> None:
    before = replace(rules(), opens_at=100.0)
    assert ticket_state(admitted=False, rules=before, now=99.0) is QueueState.PRE_QUEUE
    assert ticket_state(admitted=False, rules=before, now=100.0) is QueueState.WAITING
    assert ticket_state(admitted=True, rules=rules(), now=0.0) is QueueState.ADMITTED
    sold = replace(rules(), sold_out_at=1.0)
    assert ticket_state(admitted=True, rules=sold, now=2.0) is QueueState.SOLD_OUT


def test_positions_are_shown_only_while_waiting_or_admitted() -> None:
    assert shown_position(QueueState.WAITING, 0) == 1
    assert shown_position(QueueState.ADMITTED, 0) == 0
    assert shown_position(QueueState.PRE_QUEUE, 3) is None
    assert shown_position(QueueState.SOLD_OUT, 3) is None


def test_draw_ranks_are_fractions_fixed_by_the_seed_and_the_fan() -> None:
    ranks = [draw_rank("seed", user) for user in range(1, 200)]
    assert all(0.0 <= r < 1.0 for r in ranks)
    assert len(set(ranks)) == len(ranks)
    assert draw_rank("seed", 7) == draw_rank("seed", 7) != draw_rank("other", 7)


def test_fans_after_the_opening_are_placed_behind_the_whole_pre_queue() -> None:
    r = replace(rules(), opens_at=100.0, seed="s")
    assert join_place(rules=r, seq=1, user_id=5, now=99.0) == draw_rank("s", 5) < 1.0
    assert join_place(rules=r, seq=1, user_id=5, now=100.0) == 1.0


def test_a_pre_queues_liveness_starts_at_the_opening() -> None:
    r = replace(rules(), opens_at=100.0)
    assert seen_at(rules=r, now=10.0) == 100.0
    assert seen_at(rules=r, now=150.0) == 150.0


def test_a_sold_out_line_lapses_one_waiter_timeout_later() -> None:
    r = replace(rules(), sold_out_at=10.0)  # waiter timeout 60 s
    assert not sold_out_lapsed(r, 69.9)
    assert sold_out_lapsed(r, 70.0)
    assert not sold_out_lapsed(rules(), 1e12)


def test_a_waiter_the_line_has_room_for_comes_back_at_once() -> None:
    r = rules(capacity=100)  # far back: 30 in line ahead would poll in 3 s...
    assert poll_after(position=130, rules=r, admitted=0) == 4
    assert poll_after(position=100, rules=r, admitted=0) == 1  # ...but room is 100
    assert poll_after(position=100, rules=r, admitted=60) == 3  # room is 40
    assert poll_after(position=30, rules=replace(r, paused=True), admitted=0) == 1 + 1


def test_a_waiter_behind_fewer_seats_than_fans_ahead_polls_often() -> None:
    far = poll_after(position=5_000, rules=rules())
    assert far == 15
    scarce = replace(rules(), seats_left=40)
    assert poll_after(position=5_000, rules=scarce) == 5
    assert poll_after(position=30, rules=scarce) == 1 + 1  # seats enough for those ahead
