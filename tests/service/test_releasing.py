"""Releasing a hold: the seat is free at once; releasing what is no longer held changes
nothing (least of all someone else's later hold); a paid seat is not given back."""

from __future__ import annotations

import pytest

from boxoffice.catalog.model import SeatStatus
from boxoffice.errors import AlreadyPaid, ReservationNotFound
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.db import Database
from tests.service.factories import (
    HOLD_FOR,
    NOW,
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


async def _status(db: Database, *, user_id: int, reservation_id: int) -> ReservationStatus:
    mine = await reservations.get_own(
        db=db, user_id=user_id, reservation_id=reservation_id, now=NOW
    )
    return mine.status


async def test_releasing_a_hold_frees_the_seat_at_once(db: Database) -> None:
    show = await make_show(db)
    fan, other = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    await reservations.release(db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW)
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.AVAILABLE
    assert (
        await _status(db, user_id=fan, reservation_id=held.reservation_id)
        is ReservationStatus.CANCELLED
    )
    await hold(db, user_id=other, show=show, seat_number=1, now=NOW)
    await assert_consistent(db)


async def test_a_released_hold_no_longer_counts_toward_the_limit(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=1, max_holds=1)
    await reservations.release(db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW)
    await hold(db, user_id=fan, show=show, seat_number=2, max_holds=1)
    await assert_consistent(db)


async def test_releasing_a_released_hold_again_changes_nothing(db: Database) -> None:
    show = await make_show(db)
    fan, other = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    await reservations.release(db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW)
    later = await hold(db, user_id=other, show=show, seat_number=1)
    await reservations.release(db=db, user_id=fan, reservation_id=held.reservation_id, now=NOW)
    assert (
        await _status(db, user_id=fan, reservation_id=held.reservation_id)
        is ReservationStatus.CANCELLED
    )
    assert (
        await _status(db, user_id=other, reservation_id=later.reservation_id)
        is ReservationStatus.HELD
    )
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.HELD
    await assert_consistent(db)


async def test_releasing_a_lapsed_hold_leaves_the_next_holder_alone(db: Database) -> None:
    show = await make_show(db)
    fan, other = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    lapse = NOW + HOLD_FOR
    later = await hold(db, user_id=other, show=show, seat_number=1, now=lapse)
    await reservations.release(db=db, user_id=fan, reservation_id=held.reservation_id, now=lapse)
    assert await seat_status(db, show=show, seat_number=1, now=lapse) is SeatStatus.HELD
    theirs = await reservations.get_own(
        db=db, user_id=other, reservation_id=later.reservation_id, now=lapse
    )
    assert theirs.status is ReservationStatus.HELD
    mine = await reservations.get_own(
        db=db, user_id=fan, reservation_id=held.reservation_id, now=lapse
    )
    assert mine.status is ReservationStatus.EXPIRED
    await assert_consistent(db)


async def test_a_paid_reservation_cannot_be_released(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db, balance=show.price)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    with pytest.raises(AlreadyPaid):
        await reservations.release(db=db, user_id=fan, reservation_id=paid, now=NOW)
    assert await _status(db, user_id=fan, reservation_id=paid) is ReservationStatus.CONFIRMED
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.SOLD
    await assert_consistent(db)


async def test_someone_elses_hold_or_an_unknown_one_is_not_found_and_stays_held(
    db: Database,
) -> None:
    show = await make_show(db)
    owner, other = await make_fan(db), await make_fan(db)
    held = await hold(db, user_id=owner, show=show, seat_number=1)
    with pytest.raises(ReservationNotFound):
        await reservations.release(
            db=db, user_id=other, reservation_id=held.reservation_id, now=NOW
        )
    with pytest.raises(ReservationNotFound):
        await reservations.release(
            db=db, user_id=owner, reservation_id=held.reservation_id + 10_000, now=NOW
        )
    assert (
        await _status(db, user_id=owner, reservation_id=held.reservation_id)
        is ReservationStatus.HELD
    )
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.HELD
    await assert_consistent(db)
