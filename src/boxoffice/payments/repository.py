"""SQL for payments: the payment record, and on PostgreSQL the whole sale in one
statement.

A sale confirms the fan's live hold, sells its seat, debits the wallet, writes the
ledger entry and the payment. Step by step (``reservations``, ``wallet`` and ``ADD``
here) that is six round trips in a transaction; PostgreSQL's data-modifying ``WITH``
does it in one, each part guarded by the same expressions as its step, each fed by
the one before, so a guard that fails leaves every later part without a row. The
caller reads which part came back empty and raises, which rolls back what the
earlier parts wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy import String, bindparam, insert, literal, select, true, update

from boxoffice.idempotency.repository import Remember, remembered_in
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.query import Conn, Query
from boxoffice.reservations.repository import NOW, RESERVATION, USER, live_holds_of
from boxoffice.reservations.sale_repository import CONFIRM, HELD_FOR_SALE, SOLD
from boxoffice.tables import payments, schedules, seats, wallets
from boxoffice.tables import wallet_transactions as ledger
from boxoffice.wallet.model import EntryType, signed_amount
from boxoffice.wallet.repository import covers, less

_TIME = TypeAdapter(datetime)
ADD = Query(
    insert(payments)
    .values(
        reservation_id=bindparam("reservation_id"),
        user_id=bindparam("user_id"),
        amount=bindparam("amount"),
        paid_at=bindparam("now"),
    )
    .returning(payments.c.id)
)


async def add(conn: Conn, *, reservation_id: int, user_id: int, amount: int, now: datetime) -> int:
    found = await conn.fetchval(
        ADD, reservation_id=reservation_id, user_id=user_id, amount=amount, now=now
    )
    return int(found)


_confirmed = CONFIRM.statement.cte("confirmed")  # type: ignore[attr-defined]
_sold = (
    update(seats)
    .where(seats.c.id == _confirmed.c.seat_id, *HELD_FOR_SALE)
    .values(SOLD)
    .returning(seats.c.id)
    .cte("sold")
)
_debited = (
    update(wallets)
    .where(
        wallets.c.user_id == USER, covers(_confirmed.c.price), _sold.c.id == _confirmed.c.seat_id
    )
    .values(balance=less(_confirmed.c.price))
    .returning(wallets.c.balance)
    .cte("debited")
)
_paid = _confirmed.join(_debited, true())
_entry = (
    insert(ledger)
    .from_select(
        ["user_id", "type", "amount", "balance_after", "reservation_id", "created_at"],
        select(
            USER,
            literal(EntryType.PAYMENT.value),
            _confirmed.c.price * signed_amount(EntryType.PAYMENT, 1),
            _debited.c.balance,
            RESERVATION,
            NOW,
        ).select_from(_paid),
    )
    .returning(ledger.c.id)
    .cte("entry")
)
_payment = (
    insert(payments)
    .from_select(
        ["reservation_id", "user_id", "amount", "paid_at"],
        select(RESERVATION, USER, _confirmed.c.price, NOW).select_from(_paid),
    )
    .returning(payments.c.id)
    .cte("payment")
)
_concert = (
    select(schedules.c.concert_id)
    .select_from(seats.join(schedules, schedules.c.id == seats.c.schedule_id))
    .where(seats.c.id == _confirmed.c.seat_id)
    .scalar_subquery()
)
_SALE = select(
    _confirmed.c.seat_id,
    _confirmed.c.price,
    _concert.label("concert_id"),
    live_holds_of(USER, besides=RESERVATION).label("other_holds"),
    _sold.c.id.label("sold_seat"),
    _debited.c.balance,
    _payment.c.id.label("payment_id"),
    _entry.c.id.label("entry_id"),
)
_SALE_PARTS = (
    _confirmed.outerjoin(_sold, true())
    .outerjoin(_debited, true())
    .outerjoin(_payment, true())
    .outerjoin(_entry, true())
)
SELL = Query(_SALE.select_from(_SALE_PARTS))
# ... and the answer remembered under an Idempotency-Key by the same statement, once
# the payment is written (a sale refused later is rolled back by its transaction).
_remembered = remembered_in(
    _paid.join(_payment, true()),
    answer=PaymentResult,
    fields={
        "payment_id": _payment.c.id,
        "reservation_id": RESERVATION,
        "user_id": USER,
        "amount": _confirmed.c.price,
        "status": literal(PaymentStatus.COMPLETED.value),
        # As the answer's adapter writes it: a time in JSON from PostgreSQL would
        # carry the session's time zone.
        "paid_at": bindparam("paid_at", type_=String),
        "balance": _debited.c.balance,
        "concert_id": _concert,
    },
)
SELL_REMEMBERED = Query(_SALE.select_from(_SALE_PARTS.outerjoin(_remembered, true())))


@dataclass(frozen=True, slots=True)
class Sale:
    """What the one-statement sale did: always the hold's seat, price and concert and
    the fan's other live holds; the rest None from the first guard that failed."""

    seat_id: int
    price: int
    concert_id: int
    other_holds: int
    sold: bool
    balance: int | None
    payment_id: int | None


async def sell(
    conn: Conn,
    *,
    reservation_id: int,
    user_id: int,
    now: datetime,
    remember: Remember | None = None,
) -> Sale | None:
    """The sale in one statement (PostgreSQL only), remembering its answer under
    ``remember``'s key if given; None if the reservation was not the user's live hold
    on a show not cancelled (then nothing changed)."""
    params = {"reservation": reservation_id, "user": user_id, "now": now}
    if remember is None:
        row = await conn.fetchrow(SELL, **params)
    else:
        paid_at = _TIME.dump_python(now, mode="json")
        row = await conn.fetchrow(SELL_REMEMBERED, **params, **remember.params(), paid_at=paid_at)
    if row is None:
        return None
    return Sale(
        seat_id=row["seat_id"],
        price=row["price"],
        concert_id=row["concert_id"],
        other_holds=int(row["other_holds"]),
        sold=row["sold_seat"] is not None,
        balance=row["balance"],
        payment_id=row["payment_id"],
    )
