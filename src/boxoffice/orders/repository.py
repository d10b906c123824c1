"""SQL for orders. An order's seats are held with the holds' own guards
(``reservations.repository``: ``claimable``, the fan's live holds counted after their
row is locked) and their rows locked in the order of their ids before any is
claimed, as every hold locks them, so an order and the holds of other fans meet in
the same order instead of deadlocking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, and_, bindparam, func, insert, or_, select, update

from boxoffice.orders.model import SeatAsked
from boxoffice.reservations import repository as holds
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import UTCDateTime, orders, reservations, seats

NOW = bindparam("now", type_=UTCDateTime())
# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
USER = bindparam("user", type_=BigInteger())
ORDER = bindparam("order", type_=BigInteger())
SCHEDULE = bindparam("schedule", type_=BigInteger())

# The fan's row locked, then their live holds counted (``migrations.fan_lock``).
FAN_LOCKED = Query(select(func.boxoffice_fan_live_holds(USER, NOW)), postgres_only=True)
SEATS_ASKED = Query(
    select(
        seats.c.id,
        seats.c.seat_number,
        seats.c.price,
        and_(*holds.claimable(NOW)).label("free"),
    )
    .where(
        seats.c.schedule_id == SCHEDULE,
        or_(
            seats.c.id.in_(bindparam("ids", expanding=True)),
            seats.c.seat_number.in_(bindparam("numbers", expanding=True)),
        ),
    )
    .order_by(seats.c.id)
    .with_for_update(of=seats),
    expanding=True,
)
ADD_ORDER = Query(
    insert(orders).values(user_id=USER, schedule_id=SCHEDULE, created_at=NOW).returning(orders.c.id)
)
# A seat's hold, written as every hold is (``holds.hold_values``), for the order.
ADD_HOLD = Query(
    insert(reservations)
    .from_select(
        [*holds.HOLD_COLUMNS, "order_id"],
        select(
            *holds.hold_values(
                USER,
                bindparam("seat", type_=BigInteger()),
                bindparam("price", type_=BigInteger()),
                bindparam("until", type_=UTCDateTime()),
                NOW,
            ),
            ORDER,
        ),
    )
    .returning(reservations.c.id)
)
END_HOLDS = Query(
    update(reservations)
    .where(reservations.c.order_id == ORDER, *holds.the_fans_live_holds(USER, NOW))
    .values(status=ReservationStatus.CANCELLED.value)
    .returning(reservations.c.id, reservations.c.seat_id)
)


async def fan_live_holds(conn: Conn, *, user_id: int, now: datetime) -> int | None:
    """The fan's live holds, counted after their row is locked on PostgreSQL (the
    database of data-modifying WITH; a SQLite transaction writes alone, with no row
    locks to take); None when there is no such fan."""
    if not conn.modifying_with:
        return await holds.fan_live_holds(conn, user_id=user_id, now=now)
    found = await conn.fetchval(FAN_LOCKED, user=user_id, now=now)
    return None if found is None else int(found)


async def seats_asked(
    conn: Conn, *, schedule_id: int, ids: Sequence[int], numbers: Sequence[int], now: datetime
) -> list[SeatAsked]:
    """The schedule's seats asked for by id or number, each row locked in the order of
    the ids; whether each is free to hold."""
    rows = await conn.fetch(
        SEATS_ASKED, schedule=schedule_id, ids=list(ids), numbers=list(numbers), now=now
    )
    return [SeatAsked(r["id"], r["seat_number"], r["price"], bool(r["free"])) for r in rows]


async def add_order(conn: Conn, *, user_id: int, schedule_id: int, now: datetime) -> int:
    return int(await conn.fetchval(ADD_ORDER, user=user_id, schedule=schedule_id, now=now))


async def hold(
    conn: Conn, *, order_id: int, user_id: int, seat: SeatAsked, until: datetime, now: datetime
) -> int | None:
    """The seat held for the order: its reservation, or None when the seat was not
    free (then the caller rolls the order back)."""
    reservation_id = int(
        await conn.fetchval(
            ADD_HOLD,
            user=user_id,
            seat=seat.seat_id,
            price=seat.price,
            until=until,
            now=now,
            order=order_id,
        )
    )
    claimed = await holds.claim_seat(
        conn, seat_id=seat.seat_id, reservation_id=reservation_id, until=until, now=now
    )
    return reservation_id if claimed else None


async def release(conn: Conn, *, order_id: int, user_id: int, now: datetime) -> int:
    """Every live hold of the fan's order ended and its seat freed; how many."""
    ended = await conn.fetch(END_HOLDS, order=order_id, user=user_id, now=now)
    for row in sorted(ended, key=lambda row: row["seat_id"]):  # seats in the order of their ids
        await holds.free_seat(conn, seat_id=row["seat_id"], reservation_id=row["id"])
    return len(ended)
