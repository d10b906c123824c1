"""Holding a seat: one live hold per seat, lapsing at the exact instant ``held_until``,
at most so many per fan, and nothing written when a hold is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from boxoffice.catalog.model import SeatStatus
from boxoffice.errors import (
    HoldLimitReached,
    NotAdmitted,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    UserNotFound,
)
from boxoffice.queue.model import Sells
from boxoffice.refunds import service as refunds
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import ReservationStatus
from boxoffice.reservations.writers import holds_for
from boxoffice.storage.db import Database
from tests.service.factories import (
    ANY_CONCERT,
    HOLD_FOR,
    MAX_HOLDS,
    NOW,
    TICK,
    assert_consistent,
    audit_baseline,
    buy,
    database_url,
    hold,
    make_fan,
    make_show,
    seat_status,
)

__all__ = ["audit_baseline", "database_url"]


async def test_a_hold_by_seat_id_is_the_fans_until_hold_for_from_now(db: Database) -> None:
    show = await make_show(db, price=12_000)
    fan = await make_fan(db)
    held = await reservations.hold_seat(
        holds=holds_for(db),
        user_id=fan,
        schedule_id=show.schedule_id,
        seat_id=show.seat_id(5),
        seat_number=None,
        now=NOW,
        hold_for=HOLD_FOR,
        max_holds=MAX_HOLDS,
        sells=ANY_CONCERT,
    )
    assert (held.user_id, held.concert_id, held.schedule_id) == (
        fan,
        show.concert_id,
        show.schedule_id,
    )
    assert (held.seat_id, held.seat_number, held.price) == (show.seat_id(5), 5, 12_000)
    assert (held.status, held.held_until, held.concert_at) == (
        ReservationStatus.HELD,
        NOW + HOLD_FOR,
        show.concert_at,
    )
    assert await seat_status(db, show=show, seat_number=5, now=NOW) is SeatStatus.HELD
    assert (
        await reservations.get_own(db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW)
        == held
    )


async def test_a_hold_by_seat_number_holds_that_seat_of_the_schedule(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=7)
    assert (held.seat_id, held.seat_number) == (show.seat_id(7), 7)
    assert await seat_status(db, show=show, seat_number=7, now=NOW) is SeatStatus.HELD
    assert await seat_status(db, show=show, seat_number=6, now=NOW) is SeatStatus.AVAILABLE
    await assert_consistent(db)


async def test_an_unknown_schedule_is_not_found(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    gone = replace(show, schedule_id=show.schedule_id + 10_000)
    with pytest.raises(ScheduleNotFound):
        await hold(db, user_id=fan, show=gone, seat_number=1)


async def test_an_unknown_seat_or_a_seat_of_another_schedule_is_not_found(db: Database) -> None:
    show = await make_show(db, seats=10)
    other = await make_show(db, seats=10)
    fan = await make_fan(db)
    with pytest.raises(SeatNotFound):
        await hold(db, user_id=fan, show=show, seat_number=11)
    with pytest.raises(SeatNotFound):
        await reservations.hold_seat(
            holds=holds_for(db),
            user_id=fan,
            schedule_id=show.schedule_id,
            seat_id=other.seat_id(1),
            seat_number=None,
            now=NOW,
            hold_for=HOLD_FOR,
            max_holds=MAX_HOLDS,
            sells=ANY_CONCERT,
        )
    assert await seat_status(db, show=other, seat_number=1, now=NOW) is SeatStatus.AVAILABLE


async def test_a_schedule_is_bookable_until_the_instant_it_begins(db: Database) -> None:
    show = await make_show(db, starts_in=timedelta(hours=1))
    fan = await make_fan(db)
    await hold(db, user_id=fan, show=show, seat_number=1, now=show.concert_at - TICK)
    with pytest.raises(ScheduleNotFound):
        await hold(db, user_id=fan, show=show, seat_number=2, now=show.concert_at)
    await assert_consistent(db)


async def test_a_cancelled_schedule_cannot_be_held(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id, now=NOW)
    with pytest.raises(ScheduleNotFound):
        await hold(db, user_id=fan, show=show, seat_number=1)
    await assert_consistent(db)


async def test_a_fan_may_hold_exactly_the_limit_and_not_one_seat_more(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    for number in (1, 2):
        await hold(db, user_id=fan, show=show, seat_number=number, max_holds=2)
    with pytest.raises(HoldLimitReached):
        await hold(db, user_id=fan, show=show, seat_number=3, max_holds=2)
    assert await seat_status(db, show=show, seat_number=3, now=NOW) is SeatStatus.AVAILABLE
    # The limit is per fan: another fan still holds seat 3.
    await hold(db, user_id=await make_fan(db), show=show, seat_number=3, max_holds=2)
    await assert_consistent(db)


async def test_lapsed_holds_no_longer_count_toward_the_limit_from_the_exact_instant(
    db: Database,
) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    await hold(db, user_id=fan, show=show, seat_number=1, max_holds=1)
    with pytest.raises(HoldLimitReached):
        await hold(
            db, user_id=fan, show=show, seat_number=2, max_holds=1, now=NOW + HOLD_FOR - TICK
        )
    await hold(db, user_id=fan, show=show, seat_number=2, max_holds=1, now=NOW + HOLD_FOR)
    await assert_consistent(db)


async def test_a_seat_held_by_someone_else_is_unavailable(db: Database) -> None:
    show = await make_show(db)
    first, second = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=first, show=show, seat_number=1)
    with pytest.raises(SeatUnavailable):
        await hold(db, user_id=second, show=show, seat_number=1)
    mine = await reservations.get_own(
        db=db, user_id=first, reservation_id=held.reservation_id, now=NOW
    )
    assert mine.status is ReservationStatus.HELD
    # The refused attempt left no hold behind: the second fan still has their whole limit.
    for number in range(2, 2 + MAX_HOLDS):
        await hold(db, user_id=second, show=show, seat_number=number)
    await assert_consistent(db)


async def test_a_fan_cannot_hold_a_seat_they_already_hold(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    await hold(db, user_id=fan, show=show, seat_number=1)
    with pytest.raises(SeatUnavailable):
        await hold(db, user_id=fan, show=show, seat_number=1)
    await assert_consistent(db)


async def test_a_lapsed_hold_frees_the_seat_at_the_exact_instant(db: Database) -> None:
    show = await make_show(db)
    first, second = await make_fan(db), await make_fan(db)
    await hold(db, user_id=first, show=show, seat_number=1)
    lapse = NOW + HOLD_FOR
    assert await seat_status(db, show=show, seat_number=1, now=lapse - TICK) is SeatStatus.HELD
    with pytest.raises(SeatUnavailable):
        await hold(db, user_id=second, show=show, seat_number=1, now=lapse - TICK)
    assert await seat_status(db, show=show, seat_number=1, now=lapse) is SeatStatus.AVAILABLE
    again = await hold(db, user_id=second, show=show, seat_number=1, now=lapse)
    assert again.held_until == lapse + HOLD_FOR
    assert await seat_status(db, show=show, seat_number=1, now=lapse) is SeatStatus.HELD
    await assert_consistent(db)


async def test_a_sold_seat_stays_unavailable_after_its_hold_would_have_lapsed(
    db: Database,
) -> None:
    show = await make_show(db)
    buyer = await make_fan(db, balance=show.price)
    await buy(db, user_id=buyer, show=show, seat_number=1)
    later = NOW + HOLD_FOR * 10
    assert await seat_status(db, show=show, seat_number=1, now=later) is SeatStatus.SOLD
    with pytest.raises(SeatUnavailable):
        await hold(db, user_id=await make_fan(db), show=show, seat_number=1, now=later)
    await assert_consistent(db)


async def test_a_refused_concert_check_writes_nothing(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)

    other_line = Sells(show.concert_id + 1)
    with pytest.raises(NotAdmitted):
        await hold(db, user_id=fan, show=show, seat_number=1, max_holds=1, sells=other_line)
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.AVAILABLE
    # No hold was counted either: the fan's one hold is still theirs to take.
    await hold(db, user_id=fan, show=show, seat_number=1, max_holds=1)
    await assert_consistent(db)


async def test_a_user_that_does_not_exist_cannot_hold(db: Database) -> None:
    show = await make_show(db)
    with pytest.raises(UserNotFound):
        await hold(db, user_id=10**9, show=show, seat_number=1)
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.AVAILABLE


async def test_a_hold_reads_expired_from_the_exact_instant_it_lapses(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=1)

    async def status_at(offset: timedelta) -> ReservationStatus:
        mine = await reservations.get_own(
            db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW + offset
        )
        return mine.status

    assert await status_at(HOLD_FOR - TICK) is ReservationStatus.HELD
    assert await status_at(HOLD_FOR) is ReservationStatus.EXPIRED


async def test_someone_elses_reservation_or_an_unknown_one_is_not_found(db: Database) -> None:
    show = await make_show(db)
    owner, other = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=owner, show=show, seat_number=1)
    with pytest.raises(ReservationNotFound):
        await reservations.get_own(
            db=db, user_id=other, reservation_id=held.reservation_id, now=NOW
        )
    with pytest.raises(ReservationNotFound):
        await reservations.get_own(
            db=db, user_id=owner, reservation_id=held.reservation_id + 10_000, now=NOW
        )
