"""SQL for holds. A seat row carries its hold, so claiming a seat is one conditional
UPDATE whose row count says who won. The seats table's hold and sale columns
(``hold_reservation_id``, ``held_until``, ``sold_reservation_id``) are written only by
the holds, the sale (``payments.repository``) and refunds; the catalog reads them to
show seat states.

The guards a hold has (``claimable``, ``holdable``, ``live_holds_of``) are written
here once, and both ways of holding use them: the steps of ``writers.HoldsInSteps``
below, and the statement shared by the fans of one moment (``hold_statement``)."""

from __future__ import annotations

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
    func,
    insert,
    literal,
    select,
    update,
)

from boxoffice.catalog.model import is_bookable, on_sale
from boxoffice.queue.model import Sells
from boxoffice.queue.repository import sold_through
from boxoffice.reservations.holds import SqlNow, live_hold, no_live_hold
from boxoffice.reservations.model import Reservation, ReservationStatus, SeatPlace
from boxoffice.reservations.reads import PLACE_COLUMNS, place_of
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import UTCDateTime, concerts, reservations, schedules, seats, users

HELD = ReservationStatus.HELD.value
NOW = bindparam("now", type_=UTCDateTime())
UNTIL = bindparam("until", type_=UTCDateTime())
# Bind parameters are named unlike the columns an UPDATE sets (SQLAlchemy reserves those).
USER = bindparam("user", type_=BigInteger())
SCHEDULE = bindparam("schedule", type_=BigInteger())
SEAT = bindparam("seat", type_=BigInteger())
SEAT_NUMBER = bindparam("seat_number", type_=Integer())
MAX_HOLDS = bindparam("max_holds", type_=Integer())
RESERVATION = bindparam("reservation", type_=BigInteger())
# The columns a new hold's reservation is written with.
HOLD_COLUMNS = ["user_id", "seat_id", "price", "status", "held_until", "created_at"]


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


def claimable(now: SqlNow) -> tuple[ColumnElement[bool], ...]:
    """A seat nobody bought and no live hold covers: what a hold may claim."""
    return seats.c.sold_reservation_id.is_(None), no_live_hold(seats.c.held_until, now)


def holdable(
    target: Any, *, holds: ColumnElement[int], max_holds: ColumnElement[int], now: SqlNow
) -> tuple[ColumnElement[bool], ...]:
    """Every guard a hold has before it claims its seat, over the columns of a
    ``TARGET_COLUMNS`` row: the seat exists, its show is on sale and sold through the
    fan's line, and the fan holds fewer than the limit."""
    return (
        target.c.seat_id.is_not(None),
        on_sale(target.c.concert_at, target.c.cancelled_at, now),
        sold_through(target.c.concert_id),
        holds < max_holds,
    )


def hold_values(
    user: ColumnElement[int],
    seat_id: ColumnElement[int],
    price: ColumnElement[int],
    until: ColumnElement[datetime],
    now: ColumnElement[datetime],
) -> tuple[ColumnElement[Any], ...]:
    """What a new hold's reservation is written with (``HOLD_COLUMNS``)."""
    return user, seat_id, price, literal(HELD), until, now


def asked_seat(
    schedule: ColumnElement[int], seat: ColumnElement[int], seat_number: ColumnElement[int]
) -> ColumnElement[bool]:
    """The seat a hold asks for, by id or else by number, of the schedule joined."""
    numbered = seats.alias("numbered")
    by_number = (
        select(numbered.c.id)
        .where(numbered.c.schedule_id == schedule, numbered.c.seat_number == seat_number)
        .scalar_subquery()
    )
    return and_(seats.c.schedule_id == schedules.c.id, seats.c.id == func.coalesce(seat, by_number))


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
    place: SeatPlace | None = None

    def held(
        self, reservation_id: int, *, user_id: int, until: datetime, order_id: int | None = None
    ) -> Reservation:
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
            order_id=order_id,
            place=self.place,
        )

    def sold_through(self, *, sells: Sells, now: datetime) -> bool:
        """The seat exists, and its show is on sale through the fan's line (the
        Python twin of ``holdable``'s first three guards)."""
        return (
            self.seat_id is not None
            and not self.cancelled
            and is_bookable(concert_at=self.concert_at, now=now)
            and self.concert_id in sells
        )


# What a hold reads of its schedule, concert and seat (``HoldTarget``).
TARGET_COLUMNS = (
    schedules.c.concert_id,
    schedules.c.concert_at,
    schedules.c.cancelled_at,
    concerts.c.title,
    seats.c.id.label("seat_id"),
    seats.c.seat_number,
    seats.c.price,
    *PLACE_COLUMNS,
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


def target_of(row: Row, schedule_id: int) -> HoldTarget | None:
    """The ``TARGET_COLUMNS`` of a row; None when it names no schedule."""
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
        place=place_of(row),
    )


@dataclass(frozen=True, slots=True)
class Held:
    """What a hold found and did, however it ran."""

    fan_holds: int | None  # the fan's live holds before this one; None: no such fan
    target: HoldTarget | None  # None: no such schedule
    reservation_id: int | None  # None: nothing written


# --- the hold a statement at a time, in a transaction that writes alone (SQLite) ------

FAN_LIVE_HOLDS = Query(select(live_holds_of(users.c.id)).where(users.c.id == USER))
TARGET = Query(
    show_locked(
        select(*TARGET_COLUMNS)
        .select_from(schedules)
        .join(concerts, concerts.c.id == schedules.c.concert_id)
        .outerjoin(seats, asked_seat(SCHEDULE, SEAT, SEAT_NUMBER))
        .where(schedules.c.id == SCHEDULE)
    )
)
# Inserted only while the fan holds fewer than the limit.
ADD_HOLD = Query(
    insert(reservations)
    .from_select(
        HOLD_COLUMNS,
        select(*hold_values(USER, SEAT, bindparam("price", type_=BigInteger()), UNTIL, NOW)).where(
            live_holds_of(USER) < MAX_HOLDS
        ),
    )
    .returning(reservations.c.id)
)
CLAIM_SEAT = Query(
    update(seats)
    .where(seats.c.id == SEAT, *claimable(NOW))
    .values(hold_reservation_id=RESERVATION, held_until=UNTIL)
)
COUNT_LIVE_HOLDS = Query(select(live_holds_of(USER)))


async def fan_live_holds(conn: Conn, *, user_id: int, now: datetime) -> int | None:
    """The fan's live holds; None when there is no such fan."""
    found = await conn.fetchval(FAN_LIVE_HOLDS, user=user_id, now=now)
    return None if found is None else int(found)


async def hold_target(
    conn: Conn, *, schedule_id: int, seat_id: int | None, seat_number: int | None
) -> HoldTarget | None:
    """The schedule, its concert and the seat asked for; None when there is no such
    schedule."""
    row = await conn.fetchrow(TARGET, schedule=schedule_id, seat=seat_id, seat_number=seat_number)
    return None if row is None else target_of(row, schedule_id)


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


# --- ending a hold -----------------------------------------------------------------


def the_fans_live_hold(
    reservation: ColumnElement[int], user: ColumnElement[int], now: SqlNow
) -> tuple[ColumnElement[bool], ...]:
    """The fan's own reservation, a hold still live: what a release or a payment ends."""
    return (reservations.c.id == reservation, *the_fans_live_holds(user, now))


def the_fans_live_holds(user: ColumnElement[int], now: SqlNow) -> tuple[ColumnElement[bool], ...]:
    """The fan's own reservations that are holds still live (of an order, say)."""
    return (
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
