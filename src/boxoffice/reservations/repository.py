"""SQL for holds and sales. A seat row carries its hold, so claiming a seat is one
conditional UPDATE whose row count says who won. The seats table's hold and sale
columns (``hold_reservation_id``, ``held_until``, ``sold_reservation_id``) are written
only here; the catalog owns the rest of the table and reads these to show seat states.

Each use case is as few statements as its guards allow. On PostgreSQL a hold is one
(``HOLD_AT_ONCE_*``), shared with other fans' holds of the same moment (``HOLD_EACH``).
On SQLite it reads what it needs in one statement, inserts under the hold limit in a
second and claims the seat in a third, in a transaction that writes alone. Sales and
refunds are in sale_repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS

from boxoffice.catalog.model import on_sale
from boxoffice.queue.model import Sells
from boxoffice.queue.repository import sells_params, sold_through
from boxoffice.reservations.holds import SqlNow, live_hold, no_live_hold
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, concerts, reservations, schedules, seats, users

HELD, CONFIRMED = ReservationStatus.HELD.value, ReservationStatus.CONFIRMED.value
NOW = bindparam("now", type_=UTCDateTime())
UNTIL = bindparam("until", type_=UTCDateTime())
# Bind parameters are named unlike the columns an UPDATE sets (SQLAlchemy reserves those).
USER = bindparam("user", type_=BigInteger())
SCHEDULE = bindparam("schedule", type_=BigInteger())
MAX_HOLDS = bindparam("max_holds", type_=Integer())
RESERVATION = bindparam("reservation", type_=BigInteger())


def live_holds_of(
    user: ColumnElement[int],
    *,
    besides: ColumnElement[int] | None = None,
    now: SqlNow = NOW,
) -> ColumnElement[int]:
    """How many live holds the user has (besides one reservation, if given). Its own
    name for the table, so that it reads the same inside a statement on reservations."""
    held = reservations.alias("held")
    query = (
        select(func.count())
        .select_from(held)
        .where(
            held.c.user_id == user,
            held.c.status == HELD,
            live_hold(held.c.held_until, now),
        )
    )
    if besides is not None:
        query = query.where(held.c.id != besides)
    return query.scalar_subquery()


@dataclass(frozen=True, slots=True)
class HoldTarget:
    """What a hold needs to know, read in one statement."""

    concert_id: int
    concert_title: str
    concert_at: datetime
    cancelled: bool
    schedule_id: int
    seat_id: int | None
    seat_number: int | None
    price: int | None

    def held(self, reservation_id: int, *, user_id: int, until: datetime) -> Reservation:
        """The reservation a hold of this seat made."""
        assert self.seat_id is not None and self.seat_number is not None
        assert self.price is not None
        return Reservation(
            reservation_id=reservation_id,
            user_id=user_id,
            concert_id=self.concert_id,
            concert_title=self.concert_title,
            schedule_id=self.schedule_id,
            concert_at=self.concert_at,
            seat_id=self.seat_id,
            seat_number=self.seat_number,
            price=self.price,
            status=ReservationStatus.HELD,
            held_until=until,
        )


# What a hold reads of its schedule, concert and seat (``HoldTarget``).
_TARGET_COLUMNS = (
    schedules.c.concert_id,
    schedules.c.concert_at,
    schedules.c.cancelled_at,
    concerts.c.title,
    seats.c.id.label("seat_id"),
    seats.c.seat_number,
    seats.c.price,
)


# A hold reads its schedule's row under FOR KEY SHARE, which a cancel's FOR UPDATE of
# the row (``catalog.repository.LOCK_SCHEDULE``, its first step) conflicts with: the
# cancel waits for the holds already under way, and a hold that comes while the
# cancel runs waits for it to commit and then reads the show cancelled. Otherwise a
# hold that had read the show on sale could wait on a seat the cancel was releasing
# and then claim it for a cancelled show, or commit while the cancel was locking what
# it writes, between its holds and its seats, and meet it in the wrong order. Holds
# do not wait for each other on this lock.
def show_locked(query: Select[Any]) -> Select[Any]:
    """``query``, reading its schedules' rows FOR KEY SHARE (the lock above)."""
    return query.with_for_update(of=schedules, read=True, key_share=True)


def _target(*, by_number: bool, fan_locked: bool) -> Select[Any]:
    """The schedule, its concert and the seat asked for; with ``fan_locked``, joined
    to the fan's row and locking it (no row when either is missing)."""
    seat_match = (
        seats.c.seat_number == bindparam("seat_number", type_=Integer())
        if by_number
        else seats.c.id == bindparam("seat", type_=BigInteger())
    )
    query: Select[Any] = select(*_TARGET_COLUMNS)
    if fan_locked:
        query = (
            query.select_from(users)
            .join(schedules, schedules.c.id == SCHEDULE)
            .where(users.c.id == USER)
            .with_for_update(of=users)
        )
    else:
        query = show_locked(query.select_from(schedules).where(schedules.c.id == SCHEDULE))
    return query.join(concerts, concerts.c.id == schedules.c.concert_id).outerjoin(
        seats, and_(seats.c.schedule_id == schedules.c.id, seat_match)
    )


TARGET_BY_ID, TARGET_BY_NUMBER = (
    Query(_target(by_number=by_number, fan_locked=True)) for by_number in (False, True)
)

# Inserted only while the fan holds fewer than the limit: counted after the fan's row
# lock was taken (a statement of its own), so two holds of one fan cannot both pass.
ADD_HOLD = Query(
    insert(reservations)
    .from_select(
        ["user_id", "seat_id", "price", "status", "held_until", "created_at"],
        select(
            USER,
            bindparam("seat", type_=BigInteger()),
            bindparam("price", type_=BigInteger()),
            literal(HELD),
            UNTIL,
            NOW,
        ).where(live_holds_of(USER) < MAX_HOLDS),
    )
    .returning(reservations.c.id)
)
# A seat nobody bought and no live hold covers: what a hold may claim.
_CLAIMABLE_AS_IS = (seats.c.sold_reservation_id.is_(None), no_live_hold(seats.c.held_until, NOW))
_CLAIMABLE = (seats.c.id == bindparam("seat", type_=BigInteger()), *_CLAIMABLE_AS_IS)
CLAIM_SEAT = Query(
    update(seats).where(*_CLAIMABLE).values(hold_reservation_id=RESERVATION, held_until=UNTIL)
)
COUNT_LIVE_HOLDS = Query(select(live_holds_of(USER)))


def _hold_at_once(*, by_number: bool) -> Query:
    """On PostgreSQL the whole hold in one statement: the fan locked and their live
    holds counted after the lock (``boxoffice_fan_live_holds``, each of its queries in
    a snapshot of its own), the schedule and seat read, and only when every guard
    holds a reservation id drawn, the seat claimed for it and the reservation written
    (a seat another hold took meanwhile is found taken when its row lock is granted,
    and nothing is written). One row: the fan's live holds (NULL: no such fan), the
    target's columns (NULL: no such schedule) and the reservation made, if any."""
    target = _target(by_number=by_number, fan_locked=False).cte("target")
    fan = select(func.boxoffice_fan_live_holds(USER, NOW).label("holds")).cte("fan")
    drawn = (
        select(
            func.nextval(cast(func.pg_get_serial_sequence("reservations", "id"), REGCLASS)).label(
                "id"
            ),
            target.c.seat_id,
            target.c.price,
        )
        .select_from(target.join(fan, true()))
        .where(
            target.c.seat_id.is_not(None),
            on_sale(target.c.concert_at, target.c.cancelled_at, NOW),
            sold_through(target.c.concert_id),
            fan.c.holds < MAX_HOLDS,
        )
        .cte("drawn")
    )
    claimed = (
        update(seats)
        .where(seats.c.id == drawn.c.seat_id, *_CLAIMABLE_AS_IS)
        .values(hold_reservation_id=drawn.c.id, held_until=UNTIL)
        .returning(drawn.c.id, drawn.c.seat_id, drawn.c.price)
        .cte("claimed")
    )
    added = (
        insert(reservations)
        .from_select(
            ["id", "user_id", "seat_id", "price", "status", "held_until", "created_at"],
            select(
                claimed.c.id, USER, claimed.c.seat_id, claimed.c.price, literal(HELD), UNTIL, NOW
            ),
        )
        .returning(reservations.c.id)
        .cte("added")
    )
    return Query(
        select(fan.c.holds, *target.c, added.c.id.label("reservation_id")).select_from(
            fan.outerjoin(target, true()).outerjoin(added, true())
        ),
        postgres_only=True,
    )


HOLD_AT_ONCE_BY_ID, HOLD_AT_ONCE_BY_NUMBER = (
    _hold_at_once(by_number=by_number) for by_number in (False, True)
)


def _hold_each() -> Query:
    """Several fans' holds in one statement (PostgreSQL), each as ``_hold_at_once``
    makes it, for fans who are all distinct and a line that sells the same concerts
    for each. The fans are locked in the order of their ids (each by
    ``boxoffice_fan_live_holds``, which then counts their live holds), and the seats
    to claim in the order of theirs, before any is written: two such statements, or
    one and a single hold, meet in the same order. Two fans asking for one seat: the
    seat is claimed for one, and the other's reservation is not written. One row per
    fan, as ``_hold_at_once`` answers, with the fan's id."""
    each = (
        func.unnest(
            bindparam("users", type_=ARRAY(BigInteger())),
            bindparam("schedules", type_=ARRAY(BigInteger())),
            bindparam("seats", type_=ARRAY(BigInteger())),
            bindparam("seat_numbers", type_=ARRAY(Integer())),
            bindparam("untils", type_=ARRAY(UTCDateTime())),
            bindparam("nows", type_=ARRAY(UTCDateTime())),
            bindparam("limits", type_=ARRAY(Integer())),
        )
        .table_valued(
            "user_id", "schedule_id", "seat_id", "seat_number", "until", "now", "max_holds"
        )
        .render_derived(name="each")
    )
    asked = select(each).cte("asked")
    in_order = select(asked).order_by(asked.c.user_id).subquery("in_order")
    fan = select(
        in_order.c.user_id,
        func.boxoffice_fan_live_holds(in_order.c.user_id, in_order.c.now).label("holds"),
    ).cte("fan")
    numbered = seats.alias("numbered")
    by_number = (
        select(numbered.c.id)
        .where(
            numbered.c.schedule_id == asked.c.schedule_id,
            numbered.c.seat_number == asked.c.seat_number,
        )
        .scalar_subquery()
    )
    target = show_locked(
        select(asked.c.user_id, *_TARGET_COLUMNS)
        .select_from(asked)
        .join(schedules, schedules.c.id == asked.c.schedule_id)
        .join(concerts, concerts.c.id == schedules.c.concert_id)
        .outerjoin(
            seats,
            and_(
                seats.c.schedule_id == schedules.c.id,
                seats.c.id == func.coalesce(asked.c.seat_id, by_number),
            ),
        )
    ).cte("target")
    drawn = (
        select(
            func.nextval(cast(func.pg_get_serial_sequence("reservations", "id"), REGCLASS)).label(
                "id"
            ),
            target.c.user_id,
            target.c.seat_id,
            target.c.price,
            asked.c.until,
            asked.c.now,
        )
        .select_from(
            target.join(fan, fan.c.user_id == target.c.user_id).join(
                asked, asked.c.user_id == target.c.user_id
            )
        )
        .where(
            target.c.seat_id.is_not(None),
            on_sale(target.c.concert_at, target.c.cancelled_at, asked.c.now),
            sold_through(target.c.concert_id),
            fan.c.holds < asked.c.max_holds,
        )
        .cte("drawn")
    )
    locked = locked_in_order(seats.c.id, seats.c.id.in_(select(drawn.c.seat_id)), name="locked")
    claimed = (
        update(seats)
        .where(
            seats.c.id == drawn.c.seat_id,
            seats.c.id == locked.c.id,
            seats.c.sold_reservation_id.is_(None),
            no_live_hold(seats.c.held_until, drawn.c.now),
        )
        .values(hold_reservation_id=drawn.c.id, held_until=drawn.c.until)
        .returning(*drawn.c)
        .cte("claimed")
    )
    added = (
        insert(reservations)
        .from_select(
            ["id", "user_id", "seat_id", "price", "status", "held_until", "created_at"],
            select(
                claimed.c.id,
                claimed.c.user_id,
                claimed.c.seat_id,
                claimed.c.price,
                literal(HELD),
                claimed.c.until,
                claimed.c.now,
            ),
        )
        .returning(reservations.c.id, reservations.c.user_id)
        .cte("added")
    )
    return Query(
        select(
            asked.c.user_id,
            fan.c.holds,
            *(column for column in target.c if column.name != "user_id"),
            added.c.id.label("reservation_id"),
        ).select_from(
            asked.outerjoin(fan, fan.c.user_id == asked.c.user_id)
            .outerjoin(target, target.c.user_id == asked.c.user_id)
            .outerjoin(added, added.c.user_id == asked.c.user_id)
        ),
        postgres_only=True,
    )


HOLD_EACH = _hold_each()
GET = Query(
    select(
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
    )
    .select_from(
        reservations.join(seats, seats.c.id == reservations.c.seat_id)
        .join(schedules, schedules.c.id == seats.c.schedule_id)
        .join(concerts, concerts.c.id == schedules.c.concert_id)
    )
    .where(reservations.c.id == RESERVATION)
)


def the_fans_live_hold(
    reservation: ColumnElement[int], user: ColumnElement[int], now: SqlNow
) -> tuple[ColumnElement[bool], ...]:
    """The fan's own reservation, a hold still live: what a release or a payment ends."""
    return (
        reservations.c.id == reservation,
        reservations.c.user_id == user,
        reservations.c.status == HELD,
        live_hold(reservations.c.held_until, now),
    )


THE_FANS_LIVE_HOLD = the_fans_live_hold(RESERVATION, USER, NOW)
END_HOLD = Query(
    update(reservations)
    .where(*THE_FANS_LIVE_HOLD)
    .values(status=bindparam("status"))
    .returning(reservations.c.seat_id)
)
FREE_SEAT = Query(
    update(seats)
    .where(
        seats.c.id == bindparam("seat", type_=BigInteger()),
        seats.c.hold_reservation_id == RESERVATION,
    )
    .values(hold_reservation_id=None, held_until=None)
    .returning(seats.c.schedule_id)
)
CONCERT_OF_SCHEDULE = Query(
    select(schedules.c.concert_id).where(
        schedules.c.id == bindparam("schedule", type_=BigInteger())
    )
)


async def hold_target(
    conn: Conn, *, user_id: int, schedule_id: int, seat_id: int | None, seat_number: int | None
) -> HoldTarget | None:
    """The schedule, its concert and the seat asked for, locking the fan's row; None
    when the schedule (or the fan) does not exist."""
    if seat_id is not None:
        row = await conn.fetchrow(TARGET_BY_ID, user=user_id, schedule=schedule_id, seat=seat_id)
    else:
        row = await conn.fetchrow(
            TARGET_BY_NUMBER, user=user_id, schedule=schedule_id, seat_number=seat_number
        )
    return None if row is None else _target_of(row, schedule_id)


def _target_of(row: Row, schedule_id: int) -> HoldTarget | None:
    if row["concert_id"] is None:
        return None
    return HoldTarget(
        concert_id=row["concert_id"],
        concert_title=row["title"],
        concert_at=row["concert_at"],
        cancelled=row["cancelled_at"] is not None,
        schedule_id=schedule_id,
        seat_id=row["seat_id"],
        seat_number=row["seat_number"],
        price=row["price"],
    )


@dataclass(frozen=True, slots=True)
class HeldAtOnce:
    """What the one-statement hold found and did."""

    fan_holds: int | None  # the fan's live holds before this one; None: no such fan
    target: HoldTarget | None  # None: no such schedule
    reservation_id: int | None  # None: nothing written


async def hold_at_once(
    conn: Conn,
    *,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    sells: Sells,
    until: datetime,
    now: datetime,
    max_holds: int,
) -> HeldAtOnce:
    """The whole hold in one statement (PostgreSQL): see ``_hold_at_once``."""
    params = {
        "user": user_id,
        "schedule": schedule_id,
        "until": until,
        "now": now,
        "max_holds": max_holds,
        **sells_params(sells),
    }
    if seat_id is not None:
        row = await conn.fetchrow(HOLD_AT_ONCE_BY_ID, seat=seat_id, **params)
    else:
        row = await conn.fetchrow(HOLD_AT_ONCE_BY_NUMBER, seat_number=seat_number, **params)
    assert row is not None, "the statement answers one row"
    return HeldAtOnce(row["holds"], _target_of(row, schedule_id), row["reservation_id"])


@dataclass(frozen=True, slots=True)
class HoldAsk:
    """One of the holds ``hold_each`` makes together."""

    user_id: int
    schedule_id: int
    seat_id: int | None
    seat_number: int | None
    until: datetime
    now: datetime
    max_holds: int


async def hold_each(conn: Conn, asks: Sequence[HoldAsk], *, sells: Sells) -> dict[int, HeldAtOnce]:
    """``hold_at_once`` for several fans at once, each distinct, on a line that sells
    ``sells`` for all (PostgreSQL): what it found and did, by fan. See ``_hold_each``."""
    rows = await conn.fetch(
        HOLD_EACH,
        users=[a.user_id for a in asks],
        schedules=[a.schedule_id for a in asks],
        seats=[a.seat_id for a in asks],
        seat_numbers=[a.seat_number for a in asks],
        untils=[a.until for a in asks],
        nows=[a.now for a in asks],
        limits=[a.max_holds for a in asks],
        **sells_params(sells),
    )
    schedule_of = {a.user_id: a.schedule_id for a in asks}
    return {
        row["user_id"]: HeldAtOnce(
            row["holds"], _target_of(row, schedule_of[row["user_id"]]), row["reservation_id"]
        )
        for row in rows
    }


async def add_hold(
    conn: Conn,
    *,
    user_id: int,
    seat_id: int,
    price: int,
    until: datetime,
    now: datetime,
    max_holds: int,
) -> int | None:
    """A HELD reservation, unless the fan already holds ``max_holds``; its id or None."""
    found = await conn.fetchval(
        ADD_HOLD,
        user=user_id,
        seat=seat_id,
        price=price,
        until=until,
        now=now,
        max_holds=max_holds,
    )
    return None if found is None else int(found)


async def hold(
    conn: Conn,
    *,
    user_id: int,
    seat_id: int,
    price: int,
    until: datetime,
    now: datetime,
    max_holds: int,
) -> tuple[int | None, bool]:
    """A HELD reservation unless the fan already holds ``max_holds`` (its id, or None),
    and whether it claimed the seat (nobody bought it and no live hold covers it): the
    step-by-step hold (SQLite). A reservation that did not claim its seat must be
    rolled back by the caller."""
    reservation_id = await add_hold(
        conn,
        user_id=user_id,
        seat_id=seat_id,
        price=price,
        until=until,
        now=now,
        max_holds=max_holds,
    )
    if reservation_id is None:
        return None, False
    return reservation_id, await claim_seat(
        conn, seat_id=seat_id, reservation_id=reservation_id, until=until, now=now
    )


async def claim_seat(
    conn: Conn, *, seat_id: int, reservation_id: int, until: datetime, now: datetime
) -> bool:
    """Point the seat at this hold if nobody owns it and no live hold covers it."""
    claimed = await conn.execute(
        CLAIM_SEAT, seat=seat_id, reservation=reservation_id, until=until, now=now
    )
    return claimed == 1


async def count_live_holds(conn: Conn, *, user_id: int, now: datetime) -> int:
    return int(await conn.fetchval(COUNT_LIVE_HOLDS, user=user_id, now=now))


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
    )


async def get(conn: Conn, *, reservation_id: int) -> Reservation | None:
    row = await conn.fetchrow(GET, reservation=reservation_id)
    return None if row is None else reservation_of(row)


async def end_hold(
    conn: Conn, *, reservation_id: int, user_id: int, status: ReservationStatus, now: datetime
) -> int | None:
    """Move the user's live hold to ``status``; its seat, or None if it was not a live
    hold of theirs. On PostgreSQL the UPDATE waits for a concurrent writer of the row
    and then looks again, so of a release and a payment racing, one sees the other."""
    seat_id = await conn.fetchval(
        END_HOLD, reservation=reservation_id, user=user_id, status=status.value, now=now
    )
    return None if seat_id is None else int(seat_id)


async def free_seat(conn: Conn, *, seat_id: int, reservation_id: int) -> int | None:
    """Take the hold off its seat; the seat's concert (None if the hold had gone)."""
    schedule_id = await conn.fetchval(FREE_SEAT, seat=seat_id, reservation=reservation_id)
    if schedule_id is None:
        return None
    concert: int = await conn.fetchval(CONCERT_OF_SCHEDULE, schedule=schedule_id)
    return concert
