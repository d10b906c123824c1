"""SQL for concerts, schedules and seats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, insert, select, update

from boxoffice.catalog.model import (
    Concert,
    Schedule,
    ScheduleListing,
    Seat,
    SeatMap,
    graded,
    on_sale,
    seat_status,
)
from boxoffice.catalog.plans import GradePrice, PlannedSeat
from boxoffice.reservations.holds import SqlNow, no_live_hold
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import UTCDateTime, concerts, schedules, seat_grades, seats

NOW = bindparam("now", type_=UTCDateTime())
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def seat_is_free(now: SqlNow) -> ColumnElement[bool]:
    """The SQL twin of ``seat_status(...) is AVAILABLE``."""
    return and_(seats.c.sold_reservation_id.is_(None), no_live_hold(seats.c.held_until, now))


LIST_CONCERTS = Query(select(concerts).order_by(concerts.c.id))
GET_CONCERT = Query(select(concerts).where(concerts.c.id == bindparam("concert_id")))
ADD_CONCERT = Query(
    insert(concerts)
    .values(title=bindparam("title"), venue=bindparam("venue"), time_zone=bindparam("time_zone"))
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
        section=bindparam("section"),
        row_name=bindparam("row_name"),
        label=bindparam("label"),
        grade=bindparam("grade"),
    )
)
ADD_GRADE = Query(
    insert(seat_grades).values(
        schedule_id=bindparam("schedule_id"),
        grade=bindparam("grade"),
        price=bindparam("price"),
        position=bindparam("position"),
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
            concerts.c.time_zone,
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
        .group_by(concerts.c.id, concerts.c.time_zone, schedules.c.id, schedules.c.concert_at)
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
        seats.c.section,
        seats.c.row_name,
        seats.c.label,
        seats.c.grade,
    )
    .select_from(schedules.join(seats, seats.c.schedule_id == schedules.c.id))
    .where(
        schedules.c.id == bindparam("schedule_id"),
        schedules.c.concert_id == bindparam("concert_id"),
        schedules.c.cancelled_at.is_(None),
    )
    .order_by(seats.c.seat_number)
)
# The seat map's few other facts: the venue, its time zone and the schedule's grades in
# plan order (one row per grade); no row: as for SEAT_MAP.
SEAT_MAP_GRADES = Query(
    select(concerts.c.venue, concerts.c.time_zone, seat_grades.c.grade, seat_grades.c.price)
    .select_from(
        schedules.join(concerts, concerts.c.id == schedules.c.concert_id).outerjoin(
            seat_grades, seat_grades.c.schedule_id == schedules.c.id
        )
    )
    .where(
        schedules.c.id == bindparam("schedule_id"),
        schedules.c.concert_id == bindparam("concert_id"),
        schedules.c.cancelled_at.is_(None),
    )
    .order_by(seat_grades.c.position)
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
    return Concert(
        concert_id=row["id"], title=row["title"], venue=row["venue"], time_zone=row["time_zone"]
    )


async def list_concerts(conn: Conn) -> list[Concert]:
    return [_concert(row) for row in await conn.fetch(LIST_CONCERTS)]


async def get_concert(conn: Conn, *, concert_id: int) -> Concert | None:
    row = await conn.fetchrow(GET_CONCERT, concert_id=concert_id)
    return None if row is None else _concert(row)


async def add_concert(conn: Conn, *, title: str, venue: str, time_zone: str) -> int:
    return int(await conn.fetchval(ADD_CONCERT, title=title, venue=venue, time_zone=time_zone))


async def add_schedule(
    conn: Conn,
    *,
    concert_id: int,
    concert_at: datetime,
    grades: Sequence[GradePrice],
    seat_list: Sequence[PlannedSeat],
) -> int:
    schedule_id = int(
        await conn.fetchval(ADD_SCHEDULE, concert_id=concert_id, concert_at=concert_at)
    )
    await conn.executemany(
        ADD_GRADE,
        [
            {"schedule_id": schedule_id, "grade": g.grade, "price": g.price, "position": n}
            for n, g in enumerate(grades, start=1)
        ],
    )
    await conn.executemany(
        ADD_SEAT,
        [
            {
                "schedule_id": schedule_id,
                "seat_number": seat.seat_number,
                "price": seat.price,
                "section": seat.section,
                "row_name": seat.row,
                "label": seat.label,
                "grade": seat.grade,
            }
            for seat in seat_list
        ],
    )
    return schedule_id


async def bookable_schedules(
    conn: Conn, *, concert_id: int, now: datetime, start: datetime | None, end: datetime | None
) -> ScheduleListing | None:
    """None: no such concert."""
    if start is None:
        rows = await conn.fetch(LISTING, concert_id=concert_id, now=now)
    else:
        rows = await conn.fetch(
            LISTING_DATED, concert_id=concert_id, now=now, start=start, end=end or END_OF_TIME
        )
    if not rows:
        return None
    listed = [
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
    return ScheduleListing(concert_id=concert_id, time_zone=rows[0]["time_zone"], schedules=listed)


def _seat(row: Row, now: datetime) -> Seat:
    return Seat(
        seat_id=row["id"],
        seat_number=row["seat_number"],
        price=row["price"],
        status=seat_status(
            sold=row["sold_reservation_id"] is not None, held_until=row["held_until"], now=now
        ),
        section=row["section"],
        row=row["row_name"],
        label=row["label"],
        grade=row["grade"],
    )


async def seat_map(
    conn: Conn, *, concert_id: int, schedule_id: int, now: datetime
) -> SeatMap | None:
    """The schedule with all its seats as of ``now``; None: no such schedule of the
    concert."""
    about = await conn.fetch(SEAT_MAP_GRADES, concert_id=concert_id, schedule_id=schedule_id)
    if not about:
        return None
    rows = await conn.fetch(SEAT_MAP, concert_id=concert_id, schedule_id=schedule_id)
    if not rows:
        return None
    seat_list = [_seat(row, now) for row in rows]
    schedule = Schedule(
        schedule_id=schedule_id,
        concert_id=concert_id,
        concert_at=rows[0]["concert_at"],
        total_seats=len(seat_list),
        available_seats=sum(1 for seat in seat_list if seat.is_available),
    )
    prices = [(row["grade"], row["price"]) for row in about if row["grade"] is not None]
    return SeatMap(
        schedule=schedule,
        venue=about[0]["venue"],
        time_zone=about[0]["time_zone"],
        grades=graded(prices, seat_list),
        seats=seat_list,
    )


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
