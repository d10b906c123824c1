"""SQL for refunds: a sale turned back into a seat on sale, once, one ticket at a time
or a cancelled show's all at once. The seat columns are those the holds' repository
describes; the statements guard on them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)

from boxoffice.reservations.model import ReservationStatus
from boxoffice.reservations.repository import (
    HELD,
    NOW,
)
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import reservations, seats

CONFIRMED, REFUNDED = ReservationStatus.CONFIRMED.value, ReservationStatus.REFUNDED.value
CANCELLED = ReservationStatus.CANCELLED.value
# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
SCHEDULE = bindparam("schedule", type_=BigInteger())
_OF_SCHEDULE = reservations.c.seat_id.in_(select(seats.c.id).where(seats.c.schedule_id == SCHEDULE))

# The guard on CONFIRMED is what makes a refund happen once, however requests race.
REFUND = Query(
    update(reservations)
    .where(
        reservations.c.id == bindparam("reservation", type_=BigInteger()),
        reservations.c.status == CONFIRMED,
    )
    .values(status=REFUNDED, refunded_at=NOW)
    .returning(
        reservations.c.id, reservations.c.user_id, reservations.c.seat_id, reservations.c.price
    )
)
UNSELL = Query(
    update(seats)
    .where(
        seats.c.id == bindparam("seat", type_=BigInteger()),
        seats.c.sold_reservation_id == bindparam("reservation", type_=BigInteger()),
    )
    .values(sold_reservation_id=None)
)


# A cancel's locks, taken before it writes: the schedule's holds and sales, then its
# seats, each in the order of their ids (as strong as the UPDATEs that follow, which
# leave keys alone). A sale locks its hold, then its seat, and a shared hold locks
# its seats in id order: a cancel meeting either waits for it holding nothing it
# wants. No hold commits between the two locking reads: the cancel holds its
# schedule's row FOR UPDATE from its first step, and a hold reads that row FOR KEY
# SHARE (``reservations.repository.show_locked``), so it waits for the cancel.
def _locked(key: Column[int], among: ColumnElement[bool]) -> Query:
    """How many rows ``among`` picks, each locked in the order of ``key``."""
    locked = locked_in_order(key, among, name="locked", key_share=True)
    return Query(select(func.count()).select_from(locked))


LOCK_SCHEDULE_SALES = _locked(
    reservations.c.id,
    and_(_OF_SCHEDULE, or_(reservations.c.status == HELD, reservations.c.status == CONFIRMED)),
)
LOCK_SCHEDULE_SEATS = _locked(seats.c.id, seats.c.schedule_id == SCHEDULE)
RELEASE_SCHEDULE_SEATS = Query(
    update(seats)
    .where(seats.c.schedule_id == SCHEDULE)
    .values(hold_reservation_id=None, held_until=None)
)
CANCEL_SCHEDULE_HOLDS = Query(
    update(reservations).where(_OF_SCHEDULE, reservations.c.status == HELD).values(status=CANCELLED)
)
REFUND_SCHEDULE = Query(
    update(reservations)
    .where(_OF_SCHEDULE, reservations.c.status == CONFIRMED)
    .values(status=REFUNDED, refunded_at=NOW)
    .returning(
        reservations.c.id, reservations.c.user_id, reservations.c.seat_id, reservations.c.price
    )
)
UNSELL_SCHEDULE = Query(
    update(seats)
    .where(
        seats.c.schedule_id == SCHEDULE,
        seats.c.sold_reservation_id.in_(
            select(reservations.c.id).where(_OF_SCHEDULE, reservations.c.status == REFUNDED)
        ),
    )
    .values(sold_reservation_id=None)
)
REFUNDED_OF_SCHEDULE = Query(
    select(
        func.count().label("refunded"),
        func.coalesce(func.sum(reservations.c.price), 0).label("amount"),
    ).where(_OF_SCHEDULE, reservations.c.status == REFUNDED)
)


@dataclass(frozen=True, slots=True)
class Refunded:
    reservation_id: int
    user_id: int
    seat_id: int
    price: int


async def refund(conn: Conn, *, reservation_id: int, now: datetime) -> Refunded | None:
    """Mark a paid reservation refunded and put its seat back on sale; None if it was
    not CONFIRMED."""
    row = await conn.fetchrow(REFUND, reservation=reservation_id, now=now)
    if row is None:
        return None
    await conn.execute(UNSELL, seat=row["seat_id"], reservation=reservation_id)
    return Refunded(reservation_id, row["user_id"], row["seat_id"], row["price"])


async def refund_schedule(conn: Conn, *, schedule_id: int, now: datetime) -> list[Refunded]:
    """Refund every paid reservation of a schedule and release its holds, all seats
    back on sale; what this call refunded (nothing, when called again). The rows are
    locked before they are written, in a sale's order (``LOCK_SCHEDULE_SALES``)."""
    await conn.fetchval(LOCK_SCHEDULE_SALES, schedule=schedule_id)
    await conn.fetchval(LOCK_SCHEDULE_SEATS, schedule=schedule_id)
    await conn.execute(CANCEL_SCHEDULE_HOLDS, schedule=schedule_id)
    rows = await conn.fetch(REFUND_SCHEDULE, schedule=schedule_id, now=now)
    await conn.execute(RELEASE_SCHEDULE_SEATS, schedule=schedule_id)
    await conn.execute(UNSELL_SCHEDULE, schedule=schedule_id)
    return [Refunded(r["id"], r["user_id"], r["seat_id"], r["price"]) for r in rows]


async def refunded_of_schedule(conn: Conn, *, schedule_id: int) -> tuple[int, int]:
    """How many of a schedule's reservations were refunded, and for how much."""
    row = await conn.fetchrow(REFUNDED_OF_SCHEDULE, schedule=schedule_id)
    assert row is not None
    return int(row["refunded"]), int(row["amount"])
