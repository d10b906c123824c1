"""Hold use cases. Who gets a seat is decided by one conditional UPDATE in the
database; nothing here keeps a lock of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.catalog.model import is_bookable
from boxoffice.db import Database
from boxoffice.errors import (
    AlreadyPaid,
    AlreadyRefunded,
    HoldExpired,
    HoldLimitReached,
    NotPaid,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
)
from boxoffice.holds import is_live_hold
from boxoffice.reservations import repository
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.repository import Refunded
from boxoffice.users import service as users

# Raises when a queue token may not act for this concert (its line sells others).
ConcertCheck = Callable[[int], None]


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
    check_concert: ConcertCheck,
) -> Reservation:
    async def work(conn: AsyncConnection) -> Reservation:
        await users.lock_user(conn, user_id=user_id)
        schedule = await repository.schedule_of(conn, schedule_id=schedule_id)
        if (
            schedule is None
            or schedule.cancelled
            or not is_bookable(concert_at=schedule.concert_at, now=now)
        ):
            raise ScheduleNotFound(f"no bookable schedule {schedule_id}")
        check_concert(schedule.concert_id)
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
    """Give a held seat back at once. Releasing a lapsed or released hold is a no-op; a
    paid one is refused, also when its payment commits while this release runs."""

    async def work(conn: AsyncConnection) -> None:
        seat_id = await repository.end_hold(
            conn,
            reservation_id=reservation_id,
            user_id=user_id,
            status=ReservationStatus.CANCELLED,
            now=now,
        )
        if seat_id is not None:
            await repository.free_seat(conn, seat_id=seat_id, reservation_id=reservation_id)
            return
        # Read after the UPDATE, which waited for any payment of this row to finish.
        reservation = await repository.get(conn, reservation_id=reservation_id)
        if reservation is None or reservation.user_id != user_id:
            raise ReservationNotFound(f"you have no reservation {reservation_id}")
        if reservation.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid("a paid reservation cannot be released")

    await db.run(work)


async def confirm(
    conn: AsyncConnection,
    *,
    user_id: int,
    reservation_id: int,
    now: datetime,
    check_concert: ConcertCheck,
) -> Reservation:
    """Turn the user's live hold into a sale, inside the caller's transaction."""
    reservation = await repository.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        raise ReservationNotFound(f"you have no reservation {reservation_id}")
    check_concert(reservation.concert_id)
    if reservation.status is ReservationStatus.CONFIRMED:
        raise AlreadyPaid(f"reservation {reservation_id} is already paid")
    if reservation.status is ReservationStatus.REFUNDED:
        raise AlreadyPaid(f"reservation {reservation_id} was paid and refunded")
    if reservation.show_cancelled:
        raise HoldExpired(f"the show of reservation {reservation_id} was cancelled")
    if reservation.status is ReservationStatus.CANCELLED or not is_live_hold(
        held_until=reservation.held_until, now=now
    ):
        raise HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")
    seat_id = await repository.end_hold(
        conn,
        reservation_id=reservation_id,
        user_id=user_id,
        status=ReservationStatus.CONFIRMED,
        now=now,
    )
    if seat_id is None:
        # Another request changed it between our read and our write; say what it did.
        again = await repository.get(conn, reservation_id=reservation_id)
        if again is not None and again.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid(f"reservation {reservation_id} is already paid")
        raise HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")
    if not await repository.sell_seat(
        conn, seat_id=seat_id, reservation_id=reservation_id, now=now
    ):
        raise HoldExpired(f"the hold on reservation {reservation_id} no longer covers the seat")
    return reservation


async def live_holds(conn: AsyncConnection, *, user_id: int, now: datetime) -> int:
    """How many live holds the user has left, inside the caller's transaction."""
    return await repository.count_live_holds(conn, user_id=user_id, now=now)


async def find(conn: AsyncConnection, *, reservation_id: int) -> Reservation | None:
    """A reservation by id, whoever owns it, inside the caller's transaction."""
    return await repository.get(conn, reservation_id=reservation_id)


async def refund(conn: AsyncConnection, *, reservation_id: int, now: datetime) -> Refunded:
    """Turn a sale back into an AVAILABLE seat, inside the caller's transaction. Of two
    refunds of one reservation, however they race, one finds it CONFIRMED."""
    refunded = await repository.refund(conn, reservation_id=reservation_id, now=now)
    if refunded is not None:
        return refunded
    again = await repository.get(conn, reservation_id=reservation_id)
    if again is not None and again.status is ReservationStatus.REFUNDED:
        raise AlreadyRefunded(f"reservation {reservation_id} is already refunded")
    raise NotPaid(f"reservation {reservation_id} is not paid, so there is nothing to refund")


async def refund_schedule(
    conn: AsyncConnection, *, schedule_id: int, now: datetime
) -> list[Refunded]:
    """Refund every paid seat of a schedule and release its holds, inside the caller's
    transaction; what this call refunded (nothing, the second time)."""
    return await repository.refund_schedule(conn, schedule_id=schedule_id, now=now)


async def refunded_of_schedule(conn: AsyncConnection, *, schedule_id: int) -> tuple[int, int]:
    return await repository.refunded_of_schedule(conn, schedule_id=schedule_id)
