"""Catalog use cases: the public list, the admitted fan's view, the operator's edits."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from boxoffice.catalog import repository
from boxoffice.catalog.model import (
    Concert,
    Grade,
    NewSchedule,
    ScheduleListing,
    SeatMap,
    SeatStatus,
)
from boxoffice.catalog.plans import SeatPlan, plan_problems, seats_of, simple_plan
from boxoffice.catalog.zones import DEFAULT_TIME_ZONE
from boxoffice.errors import ConcertNotFound, ScheduleNotFound
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn


async def list_concerts(*, db: Database) -> list[Concert]:
    async with db.statement() as conn:
        return await repository.list_concerts(conn)


async def require_concert(*, db: Database, concert_id: int) -> Concert:
    async with db.statement() as conn:
        concert = await repository.get_concert(conn, concert_id=concert_id)
    if concert is None:
        raise ConcertNotFound(f"no concert {concert_id}")
    return concert


async def bookable_schedules(
    *, db: Database, concert_id: int, on: date | None, now: datetime
) -> ScheduleListing:
    start = end = None
    if on is not None:
        start = datetime.combine(on, time(), tzinfo=UTC)
        # The last day there is has no next day: its schedules run to the end of time.
        end = None if on == date.max else start + timedelta(days=1)
    async with db.statement() as conn:
        listed = await repository.bookable_schedules(
            conn, concert_id=concert_id, now=now, start=start, end=end
        )
    if listed is None:
        raise ConcertNotFound(f"no concert {concert_id}")
    return listed


async def seat_map(
    *, db: Database, concert_id: int, schedule_id: int, only: SeatStatus | None, now: datetime
) -> SeatMap:
    """The seat map; ``only`` narrows its seats, not its counts."""
    async with db.statement() as conn:
        found = await repository.seat_map(
            conn, concert_id=concert_id, schedule_id=schedule_id, now=now
        )
        if found is None and await repository.get_concert(conn, concert_id=concert_id) is None:
            raise ConcertNotFound(f"no concert {concert_id}")
    if found is None:
        raise ScheduleNotFound(f"concert {concert_id} has no schedule {schedule_id}")
    if only is not None:
        found = replace(found, seats=[seat for seat in found.seats if seat.status is only])
    return found


async def add_concert(
    *, db: Database, title: str, venue: str, time_zone: str = DEFAULT_TIME_ZONE
) -> Concert:
    async def work(conn: Conn) -> int:
        return await repository.add_concert(conn, title=title, venue=venue, time_zone=time_zone)

    concert_id = await db.run(work)
    return Concert(concert_id=concert_id, title=title, venue=venue, time_zone=time_zone)


async def add_schedule(
    *,
    db: Database,
    concert_id: int,
    concert_at: datetime,
    plan: SeatPlan | None = None,
    seat_count: int = 0,
    price: int = 0,
) -> NewSchedule:
    """A schedule with the plan's seats, or without one ``seat_count`` seats at ``price``."""
    plan = plan or simple_plan(seat_count=seat_count, price=price)
    if problems := plan_problems(plan):
        raise ValueError("; ".join(problems))
    concert_at = concert_at.astimezone(UTC)
    seat_list = seats_of(plan)

    async def work(conn: Conn) -> int:
        if await repository.get_concert(conn, concert_id=concert_id) is None:
            raise ConcertNotFound(f"no concert {concert_id}")
        return await repository.add_schedule(
            conn,
            concert_id=concert_id,
            concert_at=concert_at,
            grades=plan.grades,
            seat_list=seat_list,
        )

    schedule_id = await db.run(work)
    per_grade = Counter(seat.grade for seat in seat_list)
    return NewSchedule(
        schedule_id=schedule_id,
        concert_id=concert_id,
        concert_at=concert_at,
        total_seats=len(seat_list),
        available_seats=len(seat_list),
        grades=[Grade(g.grade, g.price, per_grade[g.grade]) for g in plan.grades],
    )


async def is_empty(*, db: Database) -> bool:
    async with db.statement() as conn:
        return await repository.count_concerts(conn) == 0


async def cancel_schedule(conn: Conn, *, schedule_id: int, now: datetime) -> tuple[int, datetime]:
    """Take a schedule off sale for good, inside the caller's transaction: its concert
    and when it was cancelled (the first time, if it already was)."""
    cancelled = await repository.cancel_schedule(conn, schedule_id=schedule_id, now=now)
    if cancelled is None:
        raise ScheduleNotFound(f"no schedule {schedule_id}")
    return cancelled
