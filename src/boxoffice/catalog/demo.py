"""A small demo catalog so a fresh embedded install has something to sell."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from boxoffice.catalog import service as catalog
from boxoffice.storage.db import Database

DEMO_CONCERTS = (
    ("Aurora Strings: Winter Nights", "Seoul Arts Center", 30_000),
    ("The Midnight Brass", "Blue Square Hall", 55_000),
    ("Neon Harbor Live", "Olympic Hall", 80_000),
)
SCHEDULES_PER_CONCERT = 4
SEATS_PER_SCHEDULE = 50


# The demo's venues are in Seoul: its shows start at 19:00 there (10:00 UTC).
SHOW_TIME_UTC = time(10, 0)


async def load_demo(*, db: Database, now: datetime) -> int:
    """Add the demo concerts, each with weekly evening shows starting next week;
    returns how many schedules were created."""
    created = 0
    first_day = (now + timedelta(days=7)).date()
    for title, venue, price in DEMO_CONCERTS:
        concert = await catalog.add_concert(db=db, title=title, venue=venue)
        for week in range(SCHEDULES_PER_CONCERT):
            day = first_day + timedelta(weeks=week)
            await catalog.add_schedule(
                db=db,
                concert_id=concert.concert_id,
                concert_at=datetime.combine(day, SHOW_TIME_UTC, tzinfo=UTC),
                seat_count=SEATS_PER_SCHEDULE,
                price=price,
            )
            created += 1
    return created


async def load_demo_if_empty(*, db: Database, now: datetime) -> int:
    """Instances starting together on one database load the demo once."""
    async with db.exclusive("demo-data"):
        if not await catalog.is_empty(db=db):
            return 0
        return await load_demo(db=db, now=now)
