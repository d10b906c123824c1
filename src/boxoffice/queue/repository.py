"""SQL for the lines' lasting record: their rules, their seeding, their opening draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.tables import line_draws, schedules, seats, waiting_rooms


@dataclass(frozen=True, slots=True)
class StoredLine:
    line: str
    concert_id: int | None
    capacity: int
    per_minute: int
    paused: bool
    opens_at: datetime | None
    draw_seed: str | None
    resets: int
    last_reset_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredDraw:
    opens_at: datetime
    drawn_at: datetime
    seed: str
    entrants: int


@dataclass(frozen=True, slots=True)
class Supply:
    total: int
    unsold: int


def _stored(row: Row[Any]) -> StoredLine:
    return StoredLine(
        line=row.line,
        concert_id=row.concert_id,
        capacity=row.capacity,
        per_minute=row.per_minute,
        paused=bool(row.paused),
        opens_at=row.opens_at,
        draw_seed=row.draw_seed,
        resets=row.resets,
        last_reset_at=row.last_reset_at,
    )


async def get(conn: AsyncConnection, *, line: str, lock: bool = False) -> StoredLine | None:
    query = select(waiting_rooms).where(waiting_rooms.c.line == line)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else _stored(row)


async def add_if_missing(
    conn: AsyncConnection,
    *,
    line: str,
    concert_id: int | None,
    capacity: int,
    per_minute: int,
) -> None:
    """Insert the line with these rules unless a row for it exists already."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(waiting_rooms)
        .values(
            line=line,
            concert_id=concert_id,
            capacity=capacity,
            per_minute=per_minute,
            paused=False,
            resets=0,
        )
        .on_conflict_do_nothing(index_elements=["line"])
    )


async def save_rules(
    conn: AsyncConnection,
    *,
    line: str,
    capacity: int,
    per_minute: int,
    paused: bool,
    opens_at: datetime | None,
    draw_seed: str | None,
) -> None:
    await conn.execute(
        update(waiting_rooms)
        .where(waiting_rooms.c.line == line)
        .values(
            capacity=capacity,
            per_minute=per_minute,
            paused=paused,
            opens_at=opens_at,
            draw_seed=draw_seed,
        )
    )


async def mark_seeded(conn: AsyncConnection, *, line: str, now: datetime) -> None:
    """The store started the line: the first time, or again after it lost it (a reset)."""
    was_seeded = waiting_rooms.c.seeded_at.is_not(None)
    await conn.execute(
        update(waiting_rooms)
        .where(waiting_rooms.c.line == line)
        .values(
            seeded_at=now,
            resets=waiting_rooms.c.resets + case((was_seeded, 1), else_=0),
            last_reset_at=case((was_seeded, now), else_=waiting_rooms.c.last_reset_at),
        )
    )


async def concert_lines(conn: AsyncConnection) -> dict[int, StoredLine]:
    rows = await conn.execute(select(waiting_rooms).where(waiting_rooms.c.concert_id.is_not(None)))
    return {row.concert_id: _stored(row) for row in rows}


async def add_draw(
    conn: AsyncConnection,
    *,
    line: str,
    opens_at: datetime,
    drawn_at: datetime,
    seed: str,
    order: list[int],
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(line_draws)
        .values(
            line=line,
            opens_at=opens_at,
            drawn_at=drawn_at,
            seed=seed,
            entrants=len(order),
            draw_order=",".join(map(str, order)),
        )
        .on_conflict_do_nothing(index_elements=["line", "opens_at"])
    )


async def last_draw(conn: AsyncConnection, *, line: str) -> StoredDraw | None:
    row = (
        await conn.execute(
            select(line_draws.c.opens_at, line_draws.c.drawn_at, line_draws.c.seed)
            .add_columns(line_draws.c.entrants)
            .where(line_draws.c.line == line)
            .order_by(line_draws.c.opens_at.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        return None
    return StoredDraw(
        opens_at=row.opens_at, drawn_at=row.drawn_at, seed=row.seed, entrants=row.entrants
    )


async def draw_order(conn: AsyncConnection, *, line: str, opens_at: datetime) -> list[int] | None:
    value = (
        await conn.execute(
            select(line_draws.c.draw_order).where(
                line_draws.c.line == line, line_draws.c.opens_at == opens_at
            )
        )
    ).scalar_one_or_none()
    return None if value is None else [int(u) for u in str(value).split(",") if u]


async def supply(
    conn: AsyncConnection, *, concert_ids: list[int], now: datetime
) -> dict[int, Supply]:
    """Seats of each concert's schedules still to come: in all, and not sold."""
    rows = await conn.execute(
        select(
            schedules.c.concert_id,
            func.count(seats.c.id),
            func.count(seats.c.id) - func.count(seats.c.sold_reservation_id),
        )
        .select_from(seats.join(schedules, schedules.c.id == seats.c.schedule_id))
        .where(schedules.c.concert_id.in_(concert_ids), schedules.c.concert_at > now)
        .group_by(schedules.c.concert_id)
    )
    return {concert: Supply(total=int(t), unsold=int(u)) for concert, t, u in rows}
