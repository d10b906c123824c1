"""Order use cases: several seats held in one transaction, every seat or none, each
under the holds' own guards; an order read, and released whole. (An order is paid
by ``payments.service.checkout_order``.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from boxoffice.catalog.model import is_bookable
from boxoffice.errors import (
    AlreadyPaid,
    HoldLimitReached,
    OrderNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    UserNotFound,
)
from boxoffice.orders import repository
from boxoffice.orders.model import Order, SeatAsked, missing
from boxoffice.queue.model import Sells
from boxoffice.queue.service import WaitingRoom, require_sold_through
from boxoffice.reservations import reads
from boxoffice.reservations import repository as holds
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.tokens import QueueClaims


@dataclass(frozen=True, slots=True)
class OrderAsk:
    """A fan's order: the schedule, and its seats by id or else by number."""

    user_id: int
    schedule_id: int
    seat_ids: Sequence[int]
    seat_numbers: Sequence[int]
    now: datetime
    until: datetime
    max_holds: int


async def place_admitted(
    *,
    db: Database,
    waiting_room: WaitingRoom,
    claims: QueueClaims,
    schedule_id: int,
    seat_ids: Sequence[int],
    seat_numbers: Sequence[int],
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
) -> Order:
    """The whole use case a fan's order is: the gate (an admitted queue token, for a
    concert its line sells), then every seat held or none."""
    admitted = await waiting_room.check(claims=claims, admitted=True)
    ask = OrderAsk(
        admitted.user_id, schedule_id, seat_ids, seat_numbers, now, now + hold_for, max_holds
    )
    return await place(db=db, ask=ask, sells=waiting_room.sells(admitted))


async def place(*, db: Database, ask: OrderAsk, sells: Sells) -> Order:
    """Hold every seat asked for, or none. The refusals, in the order of a hold's: no
    such fan, schedule, line, seat; the hold limit (each seat counts); seats taken
    (all of them named)."""

    async def work(conn: Conn) -> Order:
        fan_holds = await repository.fan_live_holds(conn, user_id=ask.user_id, now=ask.now)
        found = await _seats(conn, ask, sells, fan_holds)
        order_id = await repository.add_order(
            conn, user_id=ask.user_id, schedule_id=ask.schedule_id, now=ask.now
        )
        for seat in found:
            held = await repository.hold(
                conn,
                order_id=order_id,
                user_id=ask.user_id,
                seat=seat,
                until=ask.until,
                now=ask.now,
            )
            if held is None:  # not free after all: the whole order is rolled back
                raise _taken([seat])
        seats = await reads.of_order(conn, order_id=order_id)
        return Order(order_id, ask.user_id, ask.schedule_id, seats)

    return await db.run(work)


async def _seats(conn: Conn, ask: OrderAsk, sells: Sells, fan_holds: int | None) -> list[SeatAsked]:
    """The seats asked for, locked, once every guard of the order holds."""
    if fan_holds is None:
        raise UserNotFound("the token names a user that does not exist")
    show = await holds.hold_target(
        conn, schedule_id=ask.schedule_id, seat_id=None, seat_number=None
    )
    if show is None or show.cancelled or not is_bookable(concert_at=show.concert_at, now=ask.now):
        raise ScheduleNotFound(f"no bookable schedule {ask.schedule_id}")
    require_sold_through(sells, show.concert_id)
    found = await repository.seats_asked(
        conn, schedule_id=ask.schedule_id, ids=ask.seat_ids, numbers=ask.seat_numbers, now=ask.now
    )
    by_id = bool(ask.seat_ids)
    absent = missing(
        ask.seat_ids if by_id else ask.seat_numbers,
        (seat.seat_id if by_id else seat.seat_number for seat in found),
    )
    if absent:
        which = "ids" if by_id else "numbers"
        listed = ", ".join(map(str, absent))
        raise SeatNotFound(f"schedule {ask.schedule_id} has no seats with {which} {listed}")
    if fan_holds + len(found) > ask.max_holds:
        raise HoldLimitReached(
            f"a fan may hold at most {ask.max_holds} seats at once; you hold {fan_holds}"
        )
    taken = [seat for seat in found if not seat.free]
    if taken:
        raise _taken(taken)
    return found


def _taken(taken: Sequence[SeatAsked]) -> SeatUnavailable:
    numbers = [seat.seat_number for seat in taken]
    return SeatUnavailable(
        f"seat numbers {', '.join(map(str, numbers))} are held or sold already: nothing was held",
        seat_ids=[seat.seat_id for seat in taken],
        seat_numbers=numbers,
    )


async def get_own(*, db: Database, user_id: int, order_id: int, now: datetime) -> Order:
    async with db.statement() as conn:
        return (await own(conn, user_id=user_id, order_id=order_id)).as_of(now)


async def own(conn: Conn, *, user_id: int, order_id: int) -> Order:
    """The fan's order, inside the caller's transaction."""
    found = await reads.of_order(conn, order_id=order_id)
    if not found or found[0].user_id != user_id:
        raise OrderNotFound(f"you have no order {order_id}")
    return Order(order_id, user_id, found[0].schedule_id, found)


async def release(*, db: Database, user_id: int, order_id: int, now: datetime) -> int | None:
    """Give every held seat of the order back at once; the concert, when a seat was
    freed. Releasing an order whose holds lapsed or were released is a no-op; a paid
    one is refused, also when its payment commits while this release runs."""

    async def work(conn: Conn) -> int | None:
        ended = await repository.release(conn, order_id=order_id, user_id=user_id, now=now)
        # Read after the UPDATE, which waited for any payment of these rows to finish.
        order = await own(conn, user_id=user_id, order_id=order_id)
        if ended:
            return order.concert_id
        paid = (ReservationStatus.CONFIRMED, ReservationStatus.REFUNDED)
        if any(r.status in paid for r in order.reservations):
            raise AlreadyPaid(f"order {order_id} is paid: it cannot be released")
        return None

    return await db.run(work)
