"""Paying an order: every seat's hold confirmed and its seat sold, the wallet debited
the total, a ledger entry and a payment row per seat, or none of it. One transaction
of guarded steps on either database, each step keeping the sale's own guard for one
seat (``payable``, ``held_for_sale``, the wallet's ``covers``): the order's holds are
read and the refusal decided first; a write that then finds its guard gone rolls the
whole payment back to be run again, and the read again says why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, bindparam, update

from boxoffice.errors import AlreadyPaid, HoldExpired
from boxoffice.orders import service as orders
from boxoffice.orders.model import Order
from boxoffice.payments.model import OrderPaymentResult, PaymentStatus
from boxoffice.payments.repository import ADD_PAYMENT, CONFIRMED, sell_seat, show_on
from boxoffice.payments.sale_statement import CHANGED_UNDER_IT
from boxoffice.queue.model import Sells
from boxoffice.queue.service import require_sold_through
from boxoffice.reservations import repository as holds
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.errors import Transient
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import UTCDateTime, reservations
from boxoffice.wallet import repository as wallet
from boxoffice.wallet import service as wallets
from boxoffice.wallet.model import EntryType

NOW = bindparam("now", type_=UTCDateTime())
USER = bindparam("user", type_=BigInteger())
ORDER = bindparam("order", type_=BigInteger())

CONFIRM_ORDER = Query(
    update(reservations)
    .where(reservations.c.order_id == ORDER, *holds.the_fans_live_holds(USER, NOW), show_on())
    .values(status=CONFIRMED, confirmed_at=NOW)
    .returning(reservations.c.id, reservations.c.seat_id, reservations.c.price)
)


async def pay_order(
    conn: Conn, *, order_id: int, user_id: int, now: datetime, sells: Sells
) -> tuple[OrderPaymentResult, int]:
    """The order paid, inside the caller's transaction, and the fan's live holds left.
    Refused, writing nothing, for an order not the fan's, paid, or with any seat whose
    hold lapsed, was released or whose show was cancelled; for a show not sold through
    the fan's line; for a balance short of the total."""
    order = await _payable(conn, order_id=order_id, user_id=user_id, now=now)
    require_sold_through(sells, order.concert_id)
    mine = {"order": order_id, "user": user_id, "now": now}
    # Sold in the order of their seats, as every write of seats takes them.
    confirmed = sorted(await conn.fetch(CONFIRM_ORDER, **mine), key=lambda row: row["seat_id"])
    if len(confirmed) != len(order.reservations):
        raise Transient(CHANGED_UNDER_IT)
    for row in confirmed:
        if not await sell_seat(conn, seat_id=row["seat_id"], reservation_id=row["id"], now=now):
            raise Transient(CHANGED_UNDER_IT)
    total = order.total
    balance = await wallet.debit(conn, user_id=user_id, amount=total)
    if balance is None:
        raise wallets.short_of(total)
    payment_ids, running = [], balance + total
    for row in confirmed:
        running -= row["price"]
        await wallet.add_entry(
            conn,
            user_id=user_id,
            entry_type=EntryType.PAYMENT,
            amount=row["price"],
            balance_after=running,
            reservation_id=row["id"],
            now=now,
        )
        payment_ids.append(
            int(
                await conn.fetchval(ADD_PAYMENT, reservation=row["id"], amount=row["price"], **mine)
            )
        )
    paid = OrderPaymentResult(
        payment_id=payment_ids[0],
        order_id=order_id,
        reservation_ids=[row["id"] for row in confirmed],
        user_id=user_id,
        amount=total,
        status=PaymentStatus.COMPLETED,
        paid_at=now,
        balance=balance,
        concert_id=order.concert_id,
    )
    return paid, await holds.count_live_holds(conn, user_id=user_id, now=now)


async def _payable(conn: Conn, *, order_id: int, user_id: int, now: datetime) -> Order:
    """The fan's order, every hold of it live: else why it cannot be paid."""
    order = (await orders.own(conn, user_id=user_id, order_id=order_id)).as_of(now)
    statuses = {r.status for r in order.reservations}
    if statuses <= {ReservationStatus.CONFIRMED, ReservationStatus.REFUNDED}:
        raise AlreadyPaid(f"order {order_id} is already paid")
    if any(r.show_cancelled for r in order.reservations):
        raise HoldExpired(f"the show of order {order_id} was cancelled")
    if statuses != {ReservationStatus.HELD}:
        raise HoldExpired(
            f"a hold of order {order_id} has lapsed, was released or was paid alone: nothing paid"
        )
    return order
