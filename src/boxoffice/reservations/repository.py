"""SQL for holds. A seat row carries its hold, so claiming a seat is one conditional
UPDATE whose row count says who won. The seats table's hold and sale columns
(``hold_reservation_id``, ``held_until``, ``sold_reservation_id``) are written only
here; the catalog owns the rest of the table and reads these to show seat states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.holds import live_hold, no_live_hold
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.tables import concerts, reservations, schedules, seats


@dataclass(frozen=True, slots=True)
class SeatRef:
    seat_id: int
    price: int


async def find_seat(
    conn: AsyncConnection, *, schedule_id: int, seat_id: int | None, seat_number: int | None
) -> SeatRef | None:
    query = select(seats.c.id, seats.c.price).where(seats.c.schedule_id == schedule_id)
    if seat_id is not None:
        query = query.where(seats.c.id == seat_id)
    else:
        query = query.where(seats.c.seat_number == seat_number)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else SeatRef(seat_id=row.id, price=row.price)


@dataclass(frozen=True, slots=True)
class ScheduleRef:
    concert_id: int
    concert_at: datetime
    cancelled: bool


async def schedule_of(conn: AsyncConnection, *, schedule_id: int) -> ScheduleRef | None:
    row = (
        await conn.execute(
            select(schedules.c.concert_id, schedules.c.concert_at, schedules.c.cancelled_at).where(
                schedules.c.id == schedule_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    cancelled = row.cancelled_at is not None
    return ScheduleRef(concert_id=row.concert_id, concert_at=row.concert_at, cancelled=cancelled)


async def count_live_holds(conn: AsyncConnection, *, user_id: int, now: datetime) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(reservations)
        .where(
            reservations.c.user_id == user_id,
            reservations.c.status == ReservationStatus.HELD.value,
            live_hold(reservations.c.held_until, now),
        )
    )
    return int(result.scalar_one())


async def add_hold(
    conn: AsyncConnection, *, user_id: int, seat: SeatRef, until: datetime, now: datetime
) -> int:
    result = await conn.execute(
        insert(reservations)
        .values(
            user_id=user_id,
            seat_id=seat.seat_id,
            price=seat.price,
            status=ReservationStatus.HELD.value,
            held_until=until,
            created_at=now,
        )
        .returning(reservations.c.id)
    )
    return int(result.scalar_one())


async def claim_seat(
    conn: AsyncConnection, *, seat_id: int, reservation_id: int, until: datetime, now: datetime
) -> bool:
    """Point the seat at this hold if nobody owns it and no live hold covers it."""
    result = await conn.execute(
        update(seats)
        .where(
            seats.c.id == seat_id,
            seats.c.sold_reservation_id.is_(None),
            no_live_hold(seats.c.held_until, now),
        )
        .values(hold_reservation_id=reservation_id, held_until=until)
    )
    return result.rowcount == 1


async def get(conn: AsyncConnection, *, reservation_id: int) -> Reservation | None:
    row = (
        await conn.execute(
            select(
                reservations.c.id,
                reservations.c.user_id,
                reservations.c.price,
                reservations.c.status,
                reservations.c.held_until,
                seats.c.id.label("seat_id"),
                seats.c.seat_number,
                schedules.c.id.label("schedule_id"),
                schedules.c.concert_at,
                schedules.c.cancelled_at,
                concerts.c.id.label("concert_id"),
                concerts.c.title,
            )
            .select_from(
                reservations.join(seats, seats.c.id == reservations.c.seat_id)
                .join(schedules, schedules.c.id == seats.c.schedule_id)
                .join(concerts, concerts.c.id == schedules.c.concert_id)
            )
            .where(reservations.c.id == reservation_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return Reservation(
        reservation_id=row.id,
        user_id=row.user_id,
        concert_id=row.concert_id,
        concert_title=row.title,
        schedule_id=row.schedule_id,
        concert_at=row.concert_at,
        seat_id=row.seat_id,
        seat_number=row.seat_number,
        price=row.price,
        status=ReservationStatus(row.status),
        held_until=row.held_until,
        show_cancelled=row.cancelled_at is not None,
    )


async def end_hold(
    conn: AsyncConnection,
    *,
    reservation_id: int,
    user_id: int,
    status: ReservationStatus,
    now: datetime,
) -> int | None:
    """Move the user's live hold to ``status``; its seat, or None if it was not a live
    hold of theirs. On PostgreSQL the UPDATE waits for a concurrent writer of the row
    and then looks again, so of a release and a payment racing, one sees the other."""
    values: dict[str, object] = {"status": status.value}
    if status is ReservationStatus.CONFIRMED:
        values["confirmed_at"] = now
    result = await conn.execute(
        update(reservations)
        .where(
            reservations.c.id == reservation_id,
            reservations.c.user_id == user_id,
            reservations.c.status == ReservationStatus.HELD.value,
            live_hold(reservations.c.held_until, now),
        )
        .values(**values)
        .returning(reservations.c.seat_id)
    )
    seat_id = result.scalar_one_or_none()
    return None if seat_id is None else int(seat_id)


async def free_seat(conn: AsyncConnection, *, seat_id: int, reservation_id: int) -> None:
    await conn.execute(
        update(seats)
        .where(seats.c.id == seat_id, seats.c.hold_reservation_id == reservation_id)
        .values(hold_reservation_id=None, held_until=None)
    )


async def sell_seat(
    conn: AsyncConnection, *, seat_id: int, reservation_id: int, now: datetime
) -> bool:
    """Turn this reservation's live hold on the seat into a sale."""
    result = await conn.execute(
        update(seats)
        .where(
            and_(
                seats.c.id == seat_id,
                seats.c.hold_reservation_id == reservation_id,
                live_hold(seats.c.held_until, now),
                seats.c.sold_reservation_id.is_(None),
            )
        )
        .values(sold_reservation_id=reservation_id, hold_reservation_id=None, held_until=None)
    )
    return result.rowcount == 1


@dataclass(frozen=True, slots=True)
class Refunded:
    reservation_id: int
    user_id: int
    seat_id: int
    price: int


async def refund(conn: AsyncConnection, *, reservation_id: int, now: datetime) -> Refunded | None:
    """Mark a paid reservation refunded and put its seat back on sale; None if it was
    not CONFIRMED (the UPDATE's guard is what makes a refund happen once)."""
    row = (
        await conn.execute(
            update(reservations)
            .where(
                reservations.c.id == reservation_id,
                reservations.c.status == ReservationStatus.CONFIRMED.value,
            )
            .values(status=ReservationStatus.REFUNDED.value, refunded_at=now)
            .returning(reservations.c.user_id, reservations.c.seat_id, reservations.c.price)
        )
    ).one_or_none()
    if row is None:
        return None
    await _unsell(conn, seat_ids=[row.seat_id], reservation_ids=[reservation_id])
    return Refunded(reservation_id, row.user_id, row.seat_id, row.price)


def _of_schedule(schedule_id: int) -> ColumnElement[bool]:
    return reservations.c.seat_id.in_(select(seats.c.id).where(seats.c.schedule_id == schedule_id))


async def refund_schedule(
    conn: AsyncConnection, *, schedule_id: int, now: datetime
) -> list[Refunded]:
    """Refund every paid reservation of a schedule and release its holds, all seats
    back on sale; what this call refunded (nothing, when called again)."""
    await conn.execute(
        update(seats)
        .where(seats.c.schedule_id == schedule_id)
        .values(hold_reservation_id=None, held_until=None)
    )
    await conn.execute(
        update(reservations)
        .where(_of_schedule(schedule_id), reservations.c.status == ReservationStatus.HELD.value)
        .values(status=ReservationStatus.CANCELLED.value)
    )
    rows = (
        await conn.execute(
            update(reservations)
            .where(
                _of_schedule(schedule_id),
                reservations.c.status == ReservationStatus.CONFIRMED.value,
            )
            .values(status=ReservationStatus.REFUNDED.value, refunded_at=now)
            .returning(
                reservations.c.id,
                reservations.c.user_id,
                reservations.c.seat_id,
                reservations.c.price,
            )
        )
    ).all()
    refunded = [Refunded(r.id, r.user_id, r.seat_id, r.price) for r in rows]
    await _unsell(
        conn,
        seat_ids=[r.seat_id for r in refunded],
        reservation_ids=[r.reservation_id for r in refunded],
    )
    return sorted(refunded, key=lambda r: r.reservation_id)


async def _unsell(
    conn: AsyncConnection, *, seat_ids: list[int], reservation_ids: list[int]
) -> None:
    if seat_ids:
        await conn.execute(
            update(seats)
            .where(seats.c.id.in_(seat_ids), seats.c.sold_reservation_id.in_(reservation_ids))
            .values(sold_reservation_id=None)
        )


async def refunded_of_schedule(conn: AsyncConnection, *, schedule_id: int) -> tuple[int, int]:
    """How many of a schedule's reservations were refunded, and for how much."""
    row = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(reservations.c.price), 0)).where(
                _of_schedule(schedule_id),
                reservations.c.status == ReservationStatus.REFUNDED.value,
            )
        )
    ).one()
    return int(row[0]), int(row[1])
