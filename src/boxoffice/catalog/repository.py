"""SQL for concerts, schedules and seats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, insert, select, update

from boxoffice.catalog.model import Concert, Schedule, Seat, on_sale, seat_status
from boxoffice.reservations.holds import SqlNow, no_live_hold
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import UTCDateTime, concerts, schedules, seats

NOW = bindparam("now", type_=UTCDateTime())
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def seat_is_free(now: SqlNow) -> ColumnElement[bool]:
    """The SQL twin of ``seat_status(...) is AVAILABLE``."""
    return and_(seats.c.sold_reservation_id.is_(None), no_live_hold(seats.c.held_until, now))


LIST_CONCERTS = Query(select(concerts).order_by(concerts.c.id))
GET_CONCERT = Query(select(concerts).where(concerts.c.id == bindparam("concert_id")))
ADD_CONCERT = Query(
    insert(concerts)
    .values(title=bindparam("title"), venue=bindparam("venue"))
    .returning(concerts.c.id)
)
ADD_SCHEDULE = Query(
    insert(schedules)
    .values(concert_id=bindparam("concert_id"), concert_at=bindparam("concert_at"))
    .returning(schedules.c.id)
)
ADD_SEAT = Query(
    insert(seats).values(
        schedule_id=bindparam("schedule_id"),
        seat_number=bindparam("seat_number"),
        price=bindparam("price"),
    )
)
COUNT_CONCERTS = Query(select(func.count()).select_from(concerts))


def _listing(*, dated: bool) -> Query:
    """A concert's bookable schedules with seat counts, in one statement: a concert
    with none comes back as one row without a schedule, an unknown one as no row."""
    bookable = and_(
        schedules.c.concert_id == concerts.c.id,
        on_sale(schedules.c.concert_at, schedules.c.cancelled_at, NOW),
    )
    if dated:
        bookable = and_(
            bookable,
            schedules.c.concert_at >= bindparam("start", type_=UTCDateTime()),
            schedules.c.concert_at < bindparam("end", type_=UTCDateTime()),
        )
    available = func.coalesce(func.sum(case((seat_is_free(NOW), 1), else_=0)), 0)
    query: Select[Any] = (
        select(
            schedules.c.id,
            schedules.c.concert_at,
            func.count(seats.c.id).label("total"),
            available.label("available"),
        )
        .select_from(
            concerts.outerjoin(schedules, bookable).outerjoin(
                seats, seats.c.schedule_id == schedules.c.id
            )
        )
        .where(concerts.c.id == bindparam("concert_id"))
        .group_by(concerts.c.id, schedules.c.id, schedules.c.concert_at)
        .order_by(schedules.c.concert_at, schedules.c.id)
    )
    return Query(query)


LISTING, LISTING_DATED = _listing(dated=False), _listing(dated=True)

# A schedule's seats, with the schedule, in one statement; no row: no such schedule of
# that concert (or it was cancelled).
SEAT_MAP = Query(
    select(
        schedules.c.concert_at,
        seats.c.id,
        seats.c.seat_number,
        seats.c.price,
        seats.c.held_until,
        seats.c.sold_reservation_id,
    )
    .select_from(schedules.join(seats, seats.c.schedule_id == schedules.c.id))
    .where(
        schedules.c.id == bindparam("schedule_id"),
        schedules.c.concert_id == bindparam("concert_id"),
        schedules.c.cancelled_at.is_(None),
    )
    .order_by(seats.c.seat_number)
)
LOCK_SCHEDULE = Query(
    select(schedules.c.concert_id, schedules.c.cancelled_at)
    .where(schedules.c.id == bindparam("schedule_id"))
    .with_for_update()
)
CANCEL = Query(
    update(schedules)
    .where(schedules.c.id == bindparam("schedule_id"))
    .values(cancelled_at=bindparam("now"))
)


def _concert(row: Row) -> Concert:
    return Concert(concert_id=row["id"], title=row["title"], venue=row["venue"])


async def list_concerts(conn: Conn) -> list[Concert]:
    return [_concert(row) for row in await conn.fetch(LIST_CONCERTS)]


async def get_concert(conn: Conn, *, concert_id: int) -> Concert | None:
    row = await conn.fetchrow(GET_CONCERT, concert_id=concert_id)
    return None if row is None else _concert(row)


async def add_concert(conn: Conn, *, title: str, venue: str) -> int:
    return int(await conn.fetchval(ADD_CONCERT, title=title, venue=venue))


async def add_schedule(
    conn: Conn, *, concert_id: int, concert_at: datetime, seat_count: int, price: int
) -> int:
    schedule_id = int(
        await conn.fetchval(ADD_SCHEDULE, concert_id=concert_id, concert_at=concert_at)
    )
    await conn.executemany(
        ADD_SEAT,
        [
            {"schedule_id": schedule_id, "seat_number": number, "price": price}
            for number in range(1, seat_count + 1)
        ],
    )
    return schedule_id


async def bookable_schedules(
    conn: Conn, *, concert_id: int, now: datetime, start: datetime | None, end: datetime | None
) -> list[Schedule] | None:
    """None: no such concert."""
    if start is None:
        rows = await conn.fetch(LISTING, concert_id=concert_id, now=now)
    else:
        rows = await conn.fetch(
            LISTING_DATED, concert_id=concert_id, now=now, start=start, end=end or END_OF_TIME
        )
    if not rows:
        return None
    return [
        Schedule(
            schedule_id=row["id"],
            concert_id=concert_id,
            concert_at=row["concert_at"],
            total_seats=int(row["total"]),
            available_seats=int(row["available"]),
        )
        for row in rows
        if row["id"] is not None
    ]


async def seat_map(
    conn: Conn, *, concert_id: int, schedule_id: int, now: datetime
) -> tuple[Schedule, list[Seat]] | None:
    """The schedule with its seats as of ``now``; None: no such schedule of the concert."""
    rows = await conn.fetch(SEAT_MAP, concert_id=concert_id, schedule_id=schedule_id)
    if not rows:
        return None
    seat_list = [
        Seat(
            seat_id=row["id"],
            seat_number=row["seat_number"],
            price=row["price"],
            status=seat_status(
                sold=row["sold_reservation_id"] is not None, held_until=row["held_until"], now=now
            ),
        )
        for row in rows
    ]
    schedule = Schedule(
        schedule_id=schedule_id,
        concert_id=concert_id,
        concert_at=rows[0]["concert_at"],
        total_seats=len(seat_list),
        available_seats=sum(1 for seat in seat_list if seat.is_available),
    )
    return schedule, seat_list


async def count_concerts(conn: Conn) -> int:
    return int(await conn.fetchval(COUNT_CONCERTS))


async def cancel_schedule(
    conn: Conn, *, schedule_id: int, now: datetime
) -> tuple[int, datetime] | None:
    """Mark the schedule cancelled (once: a second call keeps the first time), holding
    its row until the caller's transaction ends; its concert and when, or None."""
    row = await conn.fetchrow(LOCK_SCHEDULE, schedule_id=schedule_id)
    if row is None:
        return None
    if row["cancelled_at"] is not None:
        return row["concert_id"], row["cancelled_at"]
    await conn.execute(CANCEL, schedule_id=schedule_id, now=now)
    return row["concert_id"], now
