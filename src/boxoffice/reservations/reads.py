"""Reading reservations as a fan or a ticket shows them: one by id, or an order's
seats, each with its show and where its seat is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, Select, bindparam, select

from boxoffice.reservations.model import Reservation, ReservationStatus, SeatPlace
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import concerts, reservations, schedules, seats

RESERVATION = bindparam("reservation", type_=BigInteger())
ORDER = bindparam("order", type_=BigInteger())

# Where a seat is (``SeatPlace``), read with a hold and with a reservation.
PLACE_COLUMNS = (
    concerts.c.venue,
    concerts.c.time_zone,
    seats.c.section,
    seats.c.row_name,
    seats.c.label,
    seats.c.grade,
)


def place_of(row: Row) -> SeatPlace | None:
    """The ``PLACE_COLUMNS`` of a row; None when it names no seat."""
    if row["label"] is None:
        return None
    return SeatPlace(
        venue=row["venue"],
        time_zone=row["time_zone"],
        section=row["section"],
        row=row["row_name"],
        label=row["label"],
        grade=row["grade"],
    )


def _read() -> Select[Any]:
    """A reservation with its show and seat."""
    return select(
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
        reservations.c.order_id,
        *PLACE_COLUMNS,
    ).select_from(
        reservations.join(seats, seats.c.id == reservations.c.seat_id)
        .join(schedules, schedules.c.id == seats.c.schedule_id)
        .join(concerts, concerts.c.id == schedules.c.concert_id)
    )


GET = Query(_read().where(reservations.c.id == RESERVATION))
OF_ORDER = Query(_read().where(reservations.c.order_id == ORDER).order_by(seats.c.seat_number))
OF_USER = Query(
    _read()
    .where(reservations.c.user_id == bindparam("user", type_=BigInteger()))
    .order_by(reservations.c.id.desc())
    .limit(bindparam("most", type_=Integer()))
)


def reservation_of(row: Row) -> Reservation:
    return Reservation(
        reservation_id=row["id"],
        user_id=row["user_id"],
        concert_id=row["concert_id"],
        concert_title=row["title"],
        schedule_id=row["schedule_id"],
        concert_at=row["concert_at"],
        seat_id=row["seat_id"],
        seat_number=row["seat_number"],
        price=row["price"],
        status=ReservationStatus(row["status"]),
        held_until=row["held_until"],
        show_cancelled=row["cancelled_at"] is not None,
        order_id=row["order_id"],
        place=place_of(row),
    )


async def get(conn: Conn, *, reservation_id: int) -> Reservation | None:
    row = await conn.fetchrow(GET, reservation=reservation_id)
    return None if row is None else reservation_of(row)


async def of_order(conn: Conn, *, order_id: int) -> list[Reservation]:
    """The order's reservations, by seat number (none: no such order)."""
    return [reservation_of(row) for row in await conn.fetch(OF_ORDER, order=order_id)]


async def of_user(conn: Conn, *, user_id: int, most: int) -> list[Reservation]:
    """The fan's newest ``most`` reservations, newest first."""
    return [reservation_of(row) for row in await conn.fetch(OF_USER, user=user_id, most=most)]
