"""SQL for the lines' lasting record: their rules, their seeding, their opening draws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    all_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as upsert

from boxoffice.catalog.model import on_sale
from boxoffice.queue.model import LineRules, Sells
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import (
    UTCDateTime,
    concerts,
    line_draws,
    schedules,
    seats,
    waiting_rooms,
)

_SELLS_CONCERT = bindparam("sells_concert", type_=BigInteger())
_NOT_THESE = bindparam("not_these", type_=ARRAY(BigInteger()))


def sold_through(concert_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The SQL twin of ``concert_id in sells`` (PostgreSQL), read from ``sells_params``."""
    return case(
        (_SELLS_CONCERT.is_not(None), concert_id == _SELLS_CONCERT),
        else_=concert_id != all_(_NOT_THESE),
    )


def sells_params(sells: Sells) -> dict[str, Any]:
    return {"sells_concert": sells.concert_id, "not_these": list(sells.not_these)}


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
    places_per_address: int | None = None
    challenge: str = "off"


@dataclass(frozen=True, slots=True)
class StoredDraw:
    opens_at: datetime
    drawn_at: datetime
    seed: str
    entrants: int


@dataclass(frozen=True, slots=True)
class Supply:
    unsold: int


def _stored(row: Row) -> StoredLine:
    return StoredLine(
        line=row["line"],
        concert_id=row["concert_id"],
        capacity=row["capacity"],
        per_minute=row["per_minute"],
        paused=bool(row["paused"]),
        opens_at=row["opens_at"],
        draw_seed=row["draw_seed"],
        resets=row["resets"],
        last_reset_at=row["last_reset_at"],
        places_per_address=row["places_per_address"],
        challenge=row["challenge"],
    )


LINE = bindparam("line_id", type_=String())
NOW = bindparam("now", type_=UTCDateTime())
_THE_LINE = waiting_rooms.c.line == LINE
GET = Query(select(waiting_rooms).where(_THE_LINE))
GET_LOCKED = Query(select(waiting_rooms).where(_THE_LINE).with_for_update())
# ON CONFLICT ... DO NOTHING reads the same in PostgreSQL and SQLite: two instances
# adding one line at once, or recording one draw, both succeed and one row is kept.
ADD_IF_MISSING = Query(
    upsert(waiting_rooms)
    .values(
        line=bindparam("line"),
        concert_id=bindparam("concert_id"),
        capacity=bindparam("capacity"),
        per_minute=bindparam("per_minute"),
        paused=False,
        resets=0,
        places_per_address=bindparam("places_per_address"),
        challenge="off",
    )
    .on_conflict_do_nothing(index_elements=["line"])
)
SAVE_RULES = Query(
    update(waiting_rooms)
    .where(_THE_LINE)
    .values(
        capacity=bindparam("capacity"),
        per_minute=bindparam("per_minute"),
        paused=bindparam("paused"),
        opens_at=bindparam("opens_at"),
        draw_seed=bindparam("draw_seed"),
        places_per_address=bindparam("places_per_address"),
        challenge=bindparam("challenge"),
    )
)
_WAS_SEEDED = waiting_rooms.c.seeded_at.is_not(None)
MARK_SEEDED = Query(
    update(waiting_rooms)
    .where(_THE_LINE)
    .values(
        seeded_at=NOW,
        resets=waiting_rooms.c.resets + case((_WAS_SEEDED, 1), else_=0),
        last_reset_at=case((_WAS_SEEDED, NOW), else_=waiting_rooms.c.last_reset_at),
    )
)
CONCERT_LINES = Query(select(waiting_rooms).where(waiting_rooms.c.concert_id.is_not(None)))
# A concert and its own line, if it has one (no row: no such concert).
CONCERT_AND_LINE = Query(
    select(concerts.c.id.label("concert"), waiting_rooms)
    .select_from(concerts.outerjoin(waiting_rooms, waiting_rooms.c.concert_id == concerts.c.id))
    .where(concerts.c.id == bindparam("concert", type_=BigInteger()))
)
OPENS_AT = bindparam("opens_at", type_=UTCDateTime())
ADD_DRAW = Query(
    upsert(line_draws)
    .values(
        line=bindparam("line"),
        opens_at=bindparam("opens_at"),
        drawn_at=bindparam("drawn_at"),
        seed=bindparam("seed"),
        entrants=bindparam("entrants"),
        draw_order=bindparam("draw_order"),
    )
    .on_conflict_do_nothing(index_elements=["line", "opens_at"])
)
LAST_DRAW = Query(
    select(line_draws.c.opens_at, line_draws.c.drawn_at, line_draws.c.seed, line_draws.c.entrants)
    .where(line_draws.c.line == LINE)
    .order_by(line_draws.c.opens_at.desc())
    .limit(1)
)
DRAW_ORDER = Query(
    select(line_draws.c.draw_order).where(
        line_draws.c.line == LINE, line_draws.c.opens_at == OPENS_AT
    )
)
# Every concert with a schedule has a row, so one whose shows have all passed or been
# cancelled counts as having nothing left (0 unsold), not as unknown.
_ON_SALE = on_sale(schedules.c.concert_at, schedules.c.cancelled_at, NOW)
SUPPLY = Query(
    select(
        schedules.c.concert_id,
        (
            func.count(seats.c.id).filter(_ON_SALE)
            - func.count(seats.c.sold_reservation_id).filter(_ON_SALE)
        ).label("unsold"),
    )
    .select_from(schedules.outerjoin(seats, schedules.c.id == seats.c.schedule_id))
    .where(schedules.c.concert_id.in_(bindparam("concert_ids", expanding=True)))
    .group_by(schedules.c.concert_id),
    expanding=True,
)


async def get(conn: Conn, *, line: str, lock: bool = False) -> StoredLine | None:
    row = await conn.fetchrow(GET_LOCKED if lock else GET, line_id=line)
    return None if row is None else _stored(row)


async def add_if_missing(
    conn: Conn, *, line: str, concert_id: int | None, rules: LineRules
) -> None:
    """Insert the line with these rules unless a row for it exists already."""
    await conn.execute(
        ADD_IF_MISSING,
        line=line,
        concert_id=concert_id,
        capacity=rules.capacity,
        per_minute=rules.per_minute,
        places_per_address=rules.places_per_address,
    )


async def save_rules(conn: Conn, stored: StoredLine) -> None:
    """Keep the line's rules as the operator set them."""
    await conn.execute(
        SAVE_RULES,
        line_id=stored.line,
        capacity=stored.capacity,
        per_minute=stored.per_minute,
        paused=stored.paused,
        opens_at=stored.opens_at,
        draw_seed=stored.draw_seed,
        places_per_address=stored.places_per_address,
        challenge=stored.challenge,
    )


async def mark_seeded(conn: Conn, *, line: str, now: datetime) -> None:
    """The store started the line: the first time, or again after it lost it (a reset)."""
    await conn.execute(MARK_SEEDED, line_id=line, now=now)


async def concert_lines(conn: Conn) -> dict[int, StoredLine]:
    return {row["concert_id"]: _stored(row) for row in await conn.fetch(CONCERT_LINES)}


async def line_of_concert(conn: Conn, *, concert_id: int) -> tuple[bool, StoredLine | None]:
    """Whether the concert exists, and its own line if it has one."""
    row = await conn.fetchrow(CONCERT_AND_LINE, concert=concert_id)
    if row is None:
        return False, None
    return True, None if row["line"] is None else _stored(row)


async def add_draw(
    conn: Conn, *, line: str, opens_at: datetime, drawn_at: datetime, seed: str, order: list[int]
) -> None:
    """Record an opening's draw once (an instance that records it again changes nothing)."""
    await conn.execute(
        ADD_DRAW,
        line=line,
        opens_at=opens_at,
        drawn_at=drawn_at,
        seed=seed,
        entrants=len(order),
        draw_order=",".join(map(str, order)),
    )


async def last_draw(conn: Conn, *, line: str) -> StoredDraw | None:
    row = await conn.fetchrow(LAST_DRAW, line_id=line)
    if row is None:
        return None
    return StoredDraw(
        opens_at=row["opens_at"],
        drawn_at=row["drawn_at"],
        seed=row["seed"],
        entrants=row["entrants"],
    )


async def draw_order(conn: Conn, *, line: str, opens_at: datetime) -> list[int] | None:
    value = await conn.fetchval(DRAW_ORDER, line_id=line, opens_at=opens_at)
    return None if value is None else [int(u) for u in str(value).split(",") if u]


async def supply(conn: Conn, *, concert_ids: list[int], now: datetime) -> dict[int, Supply]:
    """Seats not sold of each concert's shows still to come (none for a concert
    without a schedule)."""
    rows = await conn.fetch(SUPPLY, concert_ids=concert_ids, now=now)
    return {row["concert_id"]: Supply(unsold=int(row["unsold"])) for row in rows}
