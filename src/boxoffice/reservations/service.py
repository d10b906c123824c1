"""Hold use cases. Who gets a seat is decided by one conditional UPDATE in the
database; nothing here keeps a lock of its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.auth import service as users
from boxoffice.catalog.model import is_bookable
from boxoffice.db import Database
from boxoffice.errors import (
    AlreadyPaid,
    HoldExpired,
    HoldLimitReached,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
)
from boxoffice.reservations import repository
from boxoffice.reservations.model import Reservation, ReservationStatus, is_live_hold


async def hold_seat(
    *,
    db: Database,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
) -> Reservation:
    async def work(conn: AsyncConnection) -> Reservation:
        await users.lock_user(conn, user_id=user_id)
        concert_at = await repository.schedule_time(conn, schedule_id=schedule_id)
        if concert_at is None or not is_bookable(concert_at=concert_at, now=now):
            raise ScheduleNotFound(f"no bookable schedule {schedule_id}")
        seat = await repository.find_seat(
            conn, schedule_id=schedule_id, seat_id=seat_id, seat_number=seat_number
        )
        if seat is None:
            which = f"id {seat_id}" if seat_id is not None else f"number {seat_number}"
            raise SeatNotFound(f"schedule {schedule_id} has no seat with {which}")
        if await repository.count_live_holds(conn, user_id=user_id, now=now) >= max_holds:
            raise HoldLimitReached(f"a fan may hold at most {max_holds} seats at once")
        until = now + hold_for
        reservation_id = await repository.add_hold(
            conn, user_id=user_id, seat=seat, until=until, now=now
        )
        if not await repository.claim_seat(
            conn, seat_id=seat.seat_id, reservation_id=reservation_id, until=until, now=now
        ):
            raise SeatUnavailable("someone else holds or bought this seat")
        reservation = await repository.get(conn, reservation_id=reservation_id)
        assert reservation is not None
        return reservation

    return await db.run(work)


async def get_own(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> Reservation:
    async with db.read() as conn:
        reservation = await repository.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        raise ReservationNotFound(f"you have no reservation {reservation_id}")
    return reservation.as_of(now)


async def release(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> None:
    """Give a held seat back at once. Releasing a lapsed or released hold is a no-op."""

    async def work(conn: AsyncConnection) -> None:
        reservation = await repository.get(conn, reservation_id=reservation_id)
        if reservation is None or reservation.user_id != user_id:
            raise ReservationNotFound(f"you have no reservation {reservation_id}")
        if reservation.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid("a paid reservation cannot be released")
        if await repository.end_hold(
            conn, reservation_id=reservation_id, status=ReservationStatus.CANCELLED, now=now
        ):
            await repository.free_seat(
                conn, seat_id=reservation.seat_id, reservation_id=reservation_id
            )

    await db.run(work)


async def confirm(
    conn: AsyncConnection, *, user_id: int, reservation_id: int, now: datetime
) -> Reservation:
    """Turn the user's live hold into a sale, inside the caller's transaction."""
    reservation = await repository.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        raise ReservationNotFound(f"you have no reservation {reservation_id}")
    if reservation.status is ReservationStatus.CONFIRMED:
        raise AlreadyPaid(f"reservation {reservation_id} is already paid")
    if reservation.status is ReservationStatus.CANCELLED or not is_live_hold(
        held_until=reservation.held_until, now=now
    ):
        raise HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")
    if not await repository.end_hold(
        conn, reservation_id=reservation_id, status=ReservationStatus.CONFIRMED, now=now
    ):
        # Another request changed it between our read and our write; say what it did.
        again = await repository.get(conn, reservation_id=reservation_id)
        if again is not None and again.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid(f"reservation {reservation_id} is already paid")
        raise HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")
    if not await repository.sell_seat(
        conn, seat_id=reservation.seat_id, reservation_id=reservation_id, now=now
    ):
        raise HoldExpired(f"the hold on reservation {reservation_id} no longer covers the seat")
    return reservation


async def live_holds(*, db: Database, user_id: int, now: datetime) -> int:
    async with db.read() as conn:
        return await repository.count_live_holds(conn, user_id=user_id, now=now)
