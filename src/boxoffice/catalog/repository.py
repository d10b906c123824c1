"""SQL for concerts, schedules and seats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.catalog.model import Concert, Schedule, Seat, seat_status
from boxoffice.holds import no_live_hold
from boxoffice.tables import concerts, schedules, seats


def seat_is_free(now: datetime) -> ColumnElement[bool]:
    """The SQL twin of ``seat_status(...) is AVAILABLE``."""
    return and_(seats.c.sold_reservation_id.is_(None), no_live_hold(seats.c.held_until, now))


async def list_concerts(conn: AsyncConnection) -> list[Concert]:
    rows = await conn.execute(select(concerts).order_by(concerts.c.id))
    return [Concert(concert_id=r.id, title=r.title, venue=r.venue) for r in rows]


async def get_concert(conn: AsyncConnection, *, concert_id: int) -> Concert | None:
    row = (await conn.execute(select(concerts).where(concerts.c.id == concert_id))).one_or_none()
    return None if row is None else Concert(concert_id=row.id, title=row.title, venue=row.venue)


async def add_concert(conn: AsyncConnection, *, title: str, venue: str) -> int:
    result = await conn.execute(
        insert(concerts).values(title=title, venue=venue).returning(concerts.c.id)
    )
    return int(result.scalar_one())


async def add_schedule(
    conn: AsyncConnection, *, concert_id: int, concert_at: datetime, seat_count: int, price: int
) -> int:
    result = await conn.execute(
        insert(schedules)
        .values(concert_id=concert_id, concert_at=concert_at)
        .returning(schedules.c.id)
    )
    schedule_id = int(result.scalar_one())
    await conn.execute(
        insert(seats),
        [
            {"schedule_id": schedule_id, "seat_number": number, "price": price}
            for number in range(1, seat_count + 1)
        ],
    )
    return schedule_id


def _schedule_query(now: datetime) -> Select[Any]:
    available = func.coalesce(func.sum(case((seat_is_free(now), 1), else_=0)), 0)
    return (
        select(
            schedules.c.id,
            schedules.c.concert_id,
            schedules.c.concert_at,
            func.count(seats.c.id).label("total"),
            available.label("available"),
        )
        .select_from(schedules.outerjoin(seats, seats.c.schedule_id == schedules.c.id))
        .group_by(schedules.c.id, schedules.c.concert_id, schedules.c.concert_at)
    )


def _schedule(row: Row[Any]) -> Schedule:
    return Schedule(
        schedule_id=row.id,
        concert_id=row.concert_id,
        concert_at=row.concert_at,
        total_seats=int(row.total),
        available_seats=int(row.available),
    )


async def bookable_schedules(
    conn: AsyncConnection,
    *,
    concert_id: int,
    now: datetime,
    start: datetime | None,
    end: datetime | None,
) -> list[Schedule]:
    query = _schedule_query(now).where(
        schedules.c.concert_id == concert_id,
        schedules.c.concert_at > now,
        schedules.c.cancelled_at.is_(None),
    )
    if start is not None:
        query = query.where(schedules.c.concert_at >= start)
    if end is not None:
        query = query.where(schedules.c.concert_at < end)
    rows = await conn.execute(query.order_by(schedules.c.concert_at, schedules.c.id))
    return [_schedule(row) for row in rows]


async def get_schedule(
    conn: AsyncConnection, *, schedule_id: int, now: datetime
) -> Schedule | None:
    row = (
        await conn.execute(
            _schedule_query(now).where(
                schedules.c.id == schedule_id, schedules.c.cancelled_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else _schedule(row)


async def seats_of(conn: AsyncConnection, *, schedule_id: int, now: datetime) -> list[Seat]:
    rows = await conn.execute(
        select(
            seats.c.id,
            seats.c.seat_number,
            seats.c.price,
            seats.c.held_until,
            seats.c.sold_reservation_id,
        )
        .where(seats.c.schedule_id == schedule_id)
        .order_by(seats.c.seat_number)
    )
    return [
        Seat(
            seat_id=r.id,
            seat_number=r.seat_number,
            price=r.price,
            status=seat_status(
                sold=r.sold_reservation_id is not None, held_until=r.held_until, now=now
            ),
        )
        for r in rows
    ]


async def count_concerts(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(concerts))).scalar_one())


async def cancel_schedule(
    conn: AsyncConnection, *, schedule_id: int, now: datetime
) -> tuple[int, datetime] | None:
    """Mark the schedule cancelled (once: a second call keeps the first time), holding
    its row until the caller's transaction ends; its concert and when, or None."""
    row = (
        await conn.execute(
            select(schedules.c.concert_id, schedules.c.cancelled_at)
            .where(schedules.c.id == schedule_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return None
    if row.cancelled_at is not None:
        return row.concert_id, row.cancelled_at
    await conn.execute(
        update(schedules).where(schedules.c.id == schedule_id).values(cancelled_at=now)
    )
    return row.concert_id, now
