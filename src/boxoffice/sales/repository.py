"""SQL for the sales view: a read across the catalog's, the holds' and the payments'
tables, aggregated in the database so that a sale of many thousand seats is counted
in two queries. It reads and never writes; the rule for a free seat is the catalog's
own expression, not a copy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select

from boxoffice.catalog.repository import seat_is_free
from boxoffice.reservations.holds import SqlNow
from boxoffice.reservations.model import ReservationStatus
from boxoffice.sales.model import ConcertSales, ScheduleSales, schedule_counts
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import UTCDateTime, concerts, payments, reservations, schedules, seats


async def concerts_with_sales(conn: Conn, *, now: datetime) -> list[ConcertSales]:
    """Every concert, with its schedules' seat counts at ``now`` and revenue."""
    listed = {
        row["id"]: ConcertSales(concert_id=row["id"], title=row["title"], venue=row["venue"])
        for row in await conn.fetch(CONCERTS)
    }
    for row in await conn.fetch(SCHEDULES, now=now):
        total = int(row["total"])
        sold, held, available = schedule_counts(
            total=total,
            sold=int(row["sold"]),
            free=int(row["available"]),
            cancelled=row["cancelled_at"] is not None,
        )
        listed[row["concert_id"]].schedules.append(
            ScheduleSales(
                schedule_id=row["id"],
                concert_id=row["concert_id"],
                concert_at=row["concert_at"],
                total_seats=total,
                sold=sold,
                held=held,
                available=available,
                revenue=int(row["revenue"]),
                cancelled_at=row["cancelled_at"],
            )
        )
    return list(listed.values())


def _schedule_query(now: SqlNow) -> Select[Any]:
    # A payment is revenue while its reservation stays confirmed (a refunded ticket's
    # money went back).
    revenue = (
        select(seats.c.schedule_id, func.sum(payments.c.amount).label("amount"))
        .select_from(
            payments.join(reservations, reservations.c.id == payments.c.reservation_id).join(
                seats, seats.c.id == reservations.c.seat_id
            )
        )
        .where(reservations.c.status == ReservationStatus.CONFIRMED.value)
        .group_by(seats.c.schedule_id)
        .subquery()
    )
    counts = (
        select(
            seats.c.schedule_id,
            func.count(seats.c.id).label("total"),
            func.sum(case((seats.c.sold_reservation_id.is_not(None), 1), else_=0)).label("sold"),
            func.sum(case((seat_is_free(now), 1), else_=0)).label("available"),
        )
        .group_by(seats.c.schedule_id)
        .subquery()
    )
    return (
        select(
            schedules.c.id,
            schedules.c.concert_id,
            schedules.c.concert_at,
            schedules.c.cancelled_at,
            func.coalesce(counts.c.total, 0).label("total"),
            func.coalesce(counts.c.sold, 0).label("sold"),
            func.coalesce(counts.c.available, 0).label("available"),
            func.coalesce(revenue.c.amount, 0).label("revenue"),
        )
        .select_from(
            schedules.outerjoin(counts, counts.c.schedule_id == schedules.c.id).outerjoin(
                revenue, revenue.c.schedule_id == schedules.c.id
            )
        )
        .order_by(schedules.c.concert_id, schedules.c.concert_at, schedules.c.id)
    )


CONCERTS = Query(select(concerts).order_by(concerts.c.id))
SCHEDULES = Query(_schedule_query(bindparam("now", type_=UTCDateTime())))
