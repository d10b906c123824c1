"""A small demo catalog so a fresh embedded install has something to sell."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from boxoffice.catalog import service as catalog
from boxoffice.catalog.plans import GradePrice, PlanRow, PlanSection, SeatPlan, simple_plan
from boxoffice.storage.db import Database

SEOUL = "Asia/Seoul"


def _rows(names: str, *, seats: int, grade: str) -> tuple[PlanRow, ...]:
    return tuple(PlanRow(row=name, seats=seats, grade=grade) for name in names)


def _section(name: str, *rows: tuple[PlanRow, ...]) -> PlanSection:
    return PlanSection(section=name, rows=tuple(row for group in rows for row in group))


# The first concert keeps the simple form: 50 seats at one price.
AURORA = simple_plan(seat_count=50, price=30_000)
# 152 seats: a hall's two floors.
BLUE_SQUARE = SeatPlan(
    grades=(
        GradePrice(grade="R", price=99_000),
        GradePrice(grade="S", price=77_000),
        GradePrice(grade="A", price=55_000),
    ),
    sections=(
        _section("1F", _rows("ABC", seats=16, grade="R"), _rows("DEF", seats=16, grade="S")),
        _section("2F", _rows("ABCD", seats=14, grade="A")),
    ),
)
# 232 seats: a standing-room floor sold as seats, and the stands.
OLYMPIC_HALL = SeatPlan(
    grades=(
        GradePrice(grade="VIP", price=154_000),
        GradePrice(grade="R", price=132_000),
        GradePrice(grade="S", price=110_000),
        GradePrice(grade="A", price=88_000),
    ),
    sections=(
        _section("Floor A", _rows("AB", seats=15, grade="VIP"), _rows("CD", seats=15, grade="R")),
        _section("Floor B", _rows("AB", seats=15, grade="VIP"), _rows("CD", seats=15, grade="R")),
        _section("2F West", _rows("ABC", seats=12, grade="S")),
        _section("2F East", _rows("ABC", seats=12, grade="S")),
        _section("3F", _rows("AB", seats=20, grade="A")),
    ),
)
DEMO_CONCERTS = (
    ("Aurora Strings: Winter Nights", "Seoul Arts Center", AURORA),
    ("The Midnight Brass", "Blue Square Hall", BLUE_SQUARE),
    ("Neon Harbor Live", "Olympic Hall", OLYMPIC_HALL),
)
SCHEDULES_PER_CONCERT = 4


# The demo's venues are in Seoul: its shows start at 19:00 there (10:00 UTC).
SHOW_TIME_UTC = time(10, 0)


async def load_demo(*, db: Database, now: datetime) -> int:
    """Add the demo concerts, each with weekly evening shows starting next week;
    returns how many schedules were created."""
    created = 0
    first_day = (now + timedelta(days=7)).date()
    for title, venue, plan in DEMO_CONCERTS:
        concert = await catalog.add_concert(db=db, title=title, venue=venue, time_zone=SEOUL)
        for week in range(SCHEDULES_PER_CONCERT):
            day = first_day + timedelta(weeks=week)
            await catalog.add_schedule(
                db=db,
                concert_id=concert.concert_id,
                concert_at=datetime.combine(day, SHOW_TIME_UTC, tzinfo=UTC),
                plan=plan,
            )
            created += 1
    return created


async def load_demo_if_empty(*, db: Database, now: datetime) -> int:
    """Instances starting together on one database load the demo once."""
    async with db.exclusive("demo-data"):
        if not await catalog.is_empty(db=db):
            return 0
        return await load_demo(db=db, now=now)
