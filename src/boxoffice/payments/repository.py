"""SQL for the sale: a fan's live hold confirmed, its seat sold, the wallet debited,
the ledger entry and the payment written. The one owner of the sale's SQL.

The guards are written here once (``payable``, ``held_for_sale``, the wallet's
``covers``) and read together as ``guards``, which both ways of selling use: a
statement at a time on SQLite (``CHECK``, then each write, each keeping its guard),
and on PostgreSQL one statement shared by the fans of one moment
(``sale_statement``), which reads every guard before it writes and writes nothing
for a fan whose guards fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, bindparam, func, insert, select, update

from boxoffice.idempotency.repository import Remember
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.queue.repository import sold_through
from boxoffice.reservations.holds import SqlNow, live_hold
from boxoffice.reservations.model import ReservationStatus
from boxoffice.reservations.repository import live_holds_of, the_fans_live_hold
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import (
    UTCDateTime,
    payments,
    reservations,
    schedules,
    seats,
    wallets,
)
from boxoffice.wallet.repository import covers

CONFIRMED = ReservationStatus.CONFIRMED.value
NOW = bindparam("now", type_=UTCDateTime())
# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
USER = bindparam("user", type_=BigInteger())
RESERVATION = bindparam("reservation", type_=BigInteger())
SEAT = bindparam("seat", type_=BigInteger())

# Its own names for the tables, so that it reads the same in a statement that joins
# them itself: it looks up the reservation's show alone.
_seat, _show = seats.alias("hold_seat"), schedules.alias("hold_show")
_CANCELLED_SHOW = (
    select(_show.c.cancelled_at)
    .where(_seat.c.id == reservations.c.seat_id, _show.c.id == _seat.c.schedule_id)
    .scalar_subquery()
)


def payable(
    reservation: ColumnElement[int], user: ColumnElement[int], now: SqlNow
) -> tuple[ColumnElement[bool], ...]:
    """A reservation a fan may pay alone: their own live hold, on a show not cancelled,
    not held in an order (an order is paid whole, by its own payment)."""
    return (
        *the_fans_live_hold(reservation, user, now),
        show_on(),
        reservations.c.order_id.is_(None),
    )


def show_on() -> ColumnElement[bool]:
    """The reservation's show is not cancelled."""
    return _CANCELLED_SHOW.is_(None)


def held_for_sale(reservation: ColumnElement[int], now: SqlNow) -> tuple[ColumnElement[bool], ...]:
    """A seat that the reservation's hold still covers."""
    return (
        seats.c.hold_reservation_id == reservation,
        live_hold(seats.c.held_until, now),
        seats.c.sold_reservation_id.is_(None),
    )


def sold_to(reservation: ColumnElement[int]) -> dict[str, Any]:
    """What selling a seat to the reservation writes."""
    return {"sold_reservation_id": reservation, "hold_reservation_id": None, "held_until": None}


def guards(
    reservation: ColumnElement[int], user: ColumnElement[int], now: SqlNow, *, line: bool
) -> tuple[ColumnElement[Any], ...]:
    """Every guard of a sale, read over the reservation, its seat and show and the
    fan's wallet (``sale_of`` reads them back): the hold payable (``live``), the seat
    still held for it, the balance covering the price, and with ``line`` (PostgreSQL)
    the show sold through the fan's line; with the hold's seat, price and concert and
    the fan's other live holds."""
    read = (
        reservations.c.seat_id,
        reservations.c.price,
        schedules.c.concert_id,
        and_(*payable(reservation, user, now)).label("live"),
        and_(*held_for_sale(reservation, now)).label("seat_held"),
        func.coalesce(covers(reservations.c.price), False).label("covered"),
        live_holds_of(user, besides=reservation, now=now).label("other_holds"),
    )
    return (*read, sold_through(schedules.c.concert_id).label("sells")) if line else read


def guarded() -> Any:
    """What ``guards`` reads from: the reservation, its seat and show, and its fan's
    wallet (a fan without one is not covered)."""
    return (
        reservations.join(seats, seats.c.id == reservations.c.seat_id)
        .join(schedules, schedules.c.id == seats.c.schedule_id)
        .outerjoin(wallets, wallets.c.user_id == reservations.c.user_id)
    )


@dataclass(frozen=True, slots=True)
class Selling:
    """One fan's payment of one hold."""

    reservation_id: int
    user_id: int
    now: datetime
    remember: Remember | None


@dataclass(frozen=True, slots=True)
class Sale:
    """What a sale found and did: the hold's seat, price and concert, the fan's other
    live holds, each guard as read before anything was written, and the payment
    (None when a guard failed: then nothing was written)."""

    seat_id: int
    price: int
    concert_id: int
    other_holds: int
    live: bool
    sells: bool
    seat_held: bool
    covered: bool
    balance: int | None = None
    payment_id: int | None = None

    @property
    def may_go(self) -> bool:
        return self.live and self.sells and self.seat_held and self.covered

    @property
    def changed_under_it(self) -> bool:
        """Every guard held when read, yet nothing was written: a row changed since."""
        return self.payment_id is None and self.may_go

    def paid(self, selling: Selling) -> PaymentResult | None:
        """The answer to the payment, if it went through."""
        if self.payment_id is None or self.balance is None:
            return None
        return PaymentResult(
            payment_id=self.payment_id,
            reservation_id=selling.reservation_id,
            user_id=selling.user_id,
            amount=self.price,
            status=PaymentStatus.COMPLETED,
            paid_at=selling.now,
            balance=self.balance,
            concert_id=self.concert_id,
        )


def sale_of(
    row: Row,
    *,
    sells: bool | None = None,
    balance: int | None = None,
    payment_id: int | None = None,
) -> Sale:
    """A ``guards`` row, with ``sells`` when the row does not carry the line's guard,
    and what the sale wrote, if anything."""
    return Sale(
        seat_id=row["seat_id"],
        price=row["price"],
        concert_id=row["concert_id"],
        other_holds=int(row["other_holds"]),
        live=row["live"],
        sells=row["sells"] if sells is None else sells,
        seat_held=row["seat_held"],
        covered=row["covered"],
        balance=balance,
        payment_id=payment_id,
    )


# --- the sale a statement at a time, in a transaction that writes alone (SQLite) ------

CHECK = Query(
    select(*guards(RESERVATION, USER, NOW, line=False))
    .select_from(guarded())
    .where(reservations.c.id == RESERVATION, reservations.c.user_id == USER)
)
CONFIRM = Query(
    update(reservations)
    .where(*payable(RESERVATION, USER, NOW))
    .values(status=CONFIRMED, confirmed_at=NOW)
)
SELL_SEAT = Query(
    update(seats)
    .where(seats.c.id == SEAT, *held_for_sale(RESERVATION, NOW))
    .values(sold_to(RESERVATION))
)
# A seat's payment; ``order`` names the order it was paid with (None: paid alone).
ADD_PAYMENT = Query(
    insert(payments)
    .values(
        reservation_id=RESERVATION,
        user_id=USER,
        amount=bindparam("amount", type_=BigInteger()),
        paid_at=NOW,
        order_id=bindparam("order", type_=BigInteger()),
    )
    .returning(payments.c.id)
)


async def check(conn: Conn, selling: Selling, *, sells: bool) -> Sale | None:
    """The sale's guards, read; None when the fan has no such reservation."""
    row = await conn.fetchrow(
        CHECK, reservation=selling.reservation_id, user=selling.user_id, now=selling.now
    )
    return None if row is None else sale_of(row, sells=sells)


async def confirm(conn: Conn, selling: Selling) -> bool:
    """The fan's payable hold made CONFIRMED."""
    mine = {"reservation": selling.reservation_id, "user": selling.user_id, "now": selling.now}
    return await conn.execute(CONFIRM, **mine) == 1


async def sell_seat(conn: Conn, *, seat_id: int, reservation_id: int, now: datetime) -> bool:
    """This reservation's live hold on the seat turned into a sale."""
    sold = await conn.execute(SELL_SEAT, seat=seat_id, reservation=reservation_id, now=now)
    return sold == 1


async def add_payment(conn: Conn, selling: Selling, *, amount: int) -> int:
    found = await conn.fetchval(
        ADD_PAYMENT,
        reservation=selling.reservation_id,
        user=selling.user_id,
        amount=amount,
        now=selling.now,
        order=None,
    )
    return int(found)
