"""SQL for payments: the payment record, and on PostgreSQL the whole sale in one
statement.

A sale confirms the fan's live hold, sells its seat, debits the wallet, writes the
ledger entry and the payment. Step by step (``reservations``, ``wallet`` and ``ADD``
here) that is six round trips in a transaction; PostgreSQL's data-modifying ``WITH``
does it in one, with no transaction around it. It reads every guard first (the fan's
live hold, the line, the seat still held, the balance) and writes only if all hold,
so a sale refused writes nothing; the caller reads which guard failed. Each write
keeps its guard as well, in case a concurrent transaction changed its row meanwhile,
and a sale begun but not finished that way rolls itself back (``boxoffice_run_again``).
The sales of distinct fans of one moment share such a statement (``SELL_EACH``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from boxoffice.idempotency.repository import Remember, remembered_in
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.queue.model import Sells
from boxoffice.queue.repository import sells_params, sold_through
from boxoffice.reservations.repository import (
    NOW,
    RESERVATION,
    THE_FANS_LIVE_HOLD,
    USER,
    live_holds_of,
    the_fans_live_hold,
)
from boxoffice.reservations.sale_repository import (
    CANCELLED_SHOW,
    CONFIRM,
    CONFIRMED,
    HELD_FOR_SALE,
    SOLD,
    held_for_sale,
    sold_to,
)
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, payments, reservations, schedules, seats, wallets
from boxoffice.storage.tables import wallet_transactions as ledger
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


# The guards, each read once in the statement's snapshot, before anything is written.
_checked = (
    select(
        reservations.c.seat_id,
        reservations.c.price,
        schedules.c.concert_id,
        and_(*THE_FANS_LIVE_HOLD, schedules.c.cancelled_at.is_(None)).label("live"),
        sold_through(schedules.c.concert_id).label("sells"),
        and_(*HELD_FOR_SALE).label("seat_held"),
        func.coalesce(covers(reservations.c.price), False).label("covered"),
        live_holds_of(USER, besides=RESERVATION).label("other_holds"),
    )
    .select_from(
        reservations.join(seats, seats.c.id == reservations.c.seat_id)
        .join(schedules, schedules.c.id == seats.c.schedule_id)
        .outerjoin(wallets, wallets.c.user_id == USER)
    )
    .where(reservations.c.id == RESERVATION, reservations.c.user_id == USER)
    .cte("checked")
)
_GO = exists(
    select(literal(1))
    .select_from(_checked)
    .where(_checked.c.live, _checked.c.sells, _checked.c.seat_held, _checked.c.covered)
)
# Each write also keeps its own guard, which PostgreSQL reads again on the row's latest
# version when a concurrent transaction changed it: what the snapshot said may no
# longer hold by then, and that part writes nothing.
_confirmed = CONFIRM.statement.where(_GO).cte("confirmed")  # type: ignore[attr-defined]
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
# A sale begun (the hold confirmed) but not finished (a later part wrote nothing) is
# never committed: the statement rolls itself back, as a serialization failure, and
# is run again. So the sale is all or nothing without a transaction around it.
CHANGED_UNDER_IT = "a row of the sale changed while its statement ran"
_UNFINISHED = and_(_confirmed.c.seat_id.is_not(None), _entry.c.id.is_(None))


def _sale(*, remember: bool, all_or_nothing: bool = True) -> Query:
    """The sale's statement; ``all_or_nothing`` off only to show what it guards against."""
    finished = (
        case((_UNFINISHED, func.boxoffice_run_again(CHANGED_UNDER_IT)), else_=literal(0))
        if all_or_nothing
        else literal(0)
    )
    parts = (
        _checked.outerjoin(_confirmed, true())
        .outerjoin(_sold, true())
        .outerjoin(_debited, true())
        .outerjoin(_payment, true())
        .outerjoin(_entry, true())
    )
    if remember:
        parts = parts.outerjoin(_remembered, true())
    return Query(
        select(
            _checked.c.seat_id,
            _checked.c.price,
            _checked.c.concert_id,
            _checked.c.live,
            _checked.c.sells,
            _checked.c.seat_held,
            _checked.c.covered,
            _checked.c.other_holds,
            _debited.c.balance,
            _payment.c.id.label("payment_id"),
            finished.label("finished"),
        ).select_from(parts)
    )


# The answer remembered under an Idempotency-Key by the same statement, once the
# payment is written (a key already there refuses the whole statement).
_remembered = remembered_in(
    _paid.join(_payment, true()).join(_checked, true()),
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
        "concert_id": _checked.c.concert_id,
    },
)
SELL = _sale(remember=False)
SELL_REMEMBERED = _sale(remember=True)


def _sell_each() -> Query:
    """Several fans' sales in one statement (PostgreSQL), each as ``SELL_REMEMBERED``
    makes it, for fans who are all distinct and a line that sells the same concerts
    for each: every guard read first in the statement's snapshot, and each write
    guarded again on its row's latest version. The rows it writes are locked table
    by table in the order a sale alone writes them (the holds, then their seats,
    then the wallets), each table's in the order of their ids, so two such
    statements, or one and a sale alone, meet in the same order. A sale begun but
    not finished rolls the whole statement back (``boxoffice_run_again``), as it does
    alone. One row per fan who has the reservation asked for, as ``SELL`` answers,
    with the fan's id and reservation."""
    each = (
        func.unnest(
            bindparam("reservations", type_=ARRAY(BigInteger())),
            bindparam("users", type_=ARRAY(BigInteger())),
            bindparam("nows", type_=ARRAY(UTCDateTime())),
            bindparam("keys", type_=ARRAY(Text())),
            bindparam("fingerprints", type_=ARRAY(Text())),
            bindparam("status_codes", type_=ARRAY(Integer())),
            bindparam("paid_ats", type_=ARRAY(Text())),
        )
        .table_valued(
            "reservation_id", "user_id", "now", "key", "fingerprint", "status_code", "paid_at"
        )
        .render_derived(name="each")
    )
    asked = select(each).cte("asked")
    checked = (
        select(
            asked.c.reservation_id,
            asked.c.user_id,
            asked.c.now,
            reservations.c.seat_id,
            reservations.c.price,
            schedules.c.concert_id,
            and_(
                *the_fans_live_hold(asked.c.reservation_id, asked.c.user_id, asked.c.now),
                schedules.c.cancelled_at.is_(None),
            ).label("live"),
            sold_through(schedules.c.concert_id).label("sells"),
            and_(*held_for_sale(asked.c.reservation_id, asked.c.now)).label("seat_held"),
            func.coalesce(covers(reservations.c.price), False).label("covered"),
            live_holds_of(asked.c.user_id, besides=asked.c.reservation_id, now=asked.c.now).label(
                "other_holds"
            ),
        )
        .select_from(
            asked.join(
                reservations,
                and_(
                    reservations.c.id == asked.c.reservation_id,
                    reservations.c.user_id == asked.c.user_id,
                ),
            )
            .join(seats, seats.c.id == reservations.c.seat_id)
            .join(schedules, schedules.c.id == seats.c.schedule_id)
            .outerjoin(wallets, wallets.c.user_id == asked.c.user_id)
        )
        .cte("checked")
    )
    go = (
        select(checked.c.reservation_id, checked.c.user_id, checked.c.now)
        .where(checked.c.live, checked.c.sells, checked.c.seat_held, checked.c.covered)
        .cte("go")
    )
    held = locked_in_order(
        reservations.c.id, reservations.c.id.in_(select(go.c.reservation_id)), name="held"
    )
    confirmed = (
        update(reservations)
        .where(
            reservations.c.id == held.c.id,
            *the_fans_live_hold(go.c.reservation_id, go.c.user_id, go.c.now),
            CANCELLED_SHOW.is_(None),
        )
        .values(status=CONFIRMED, confirmed_at=go.c.now)
        .returning(
            reservations.c.id,
            reservations.c.user_id,
            reservations.c.seat_id,
            reservations.c.price,
            go.c.now,
        )
        .cte("confirmed")
    )
    seats_held = locked_in_order(
        seats.c.id, seats.c.id.in_(select(confirmed.c.seat_id)), name="seats_held"
    )
    sold = (
        update(seats)
        .where(
            seats.c.id == confirmed.c.seat_id,
            seats.c.id == seats_held.c.id,
            *held_for_sale(confirmed.c.id, confirmed.c.now),
        )
        .values(sold_to(confirmed.c.id))
        .returning(seats.c.id)
        .cte("sold")
    )
    paying = confirmed.join(sold, sold.c.id == confirmed.c.seat_id)
    purses = locked_in_order(
        wallets.c.user_id,
        wallets.c.user_id.in_(select(confirmed.c.user_id).select_from(paying)),
        name="purses",
    )
    debited = (
        update(wallets)
        .where(
            wallets.c.user_id == confirmed.c.user_id,
            wallets.c.user_id == purses.c.user_id,
            sold.c.id == confirmed.c.seat_id,
            covers(confirmed.c.price),
        )
        .values(balance=less(confirmed.c.price))
        .returning(
            wallets.c.user_id,
            wallets.c.balance,
            confirmed.c.id.label("reservation_id"),
            confirmed.c.price,
            confirmed.c.now,
        )
        .cte("debited")
    )
    entry = (
        insert(ledger)
        .from_select(
            ["user_id", "type", "amount", "balance_after", "reservation_id", "created_at"],
            select(
                debited.c.user_id,
                literal(EntryType.PAYMENT.value),
                debited.c.price * signed_amount(EntryType.PAYMENT, 1),
                debited.c.balance,
                debited.c.reservation_id,
                debited.c.now,
            ),
        )
        .returning(ledger.c.id, ledger.c.reservation_id)
        .cte("entry")
    )
    payment = (
        insert(payments)
        .from_select(
            ["reservation_id", "user_id", "amount", "paid_at"],
            select(debited.c.reservation_id, debited.c.user_id, debited.c.price, debited.c.now),
        )
        .returning(payments.c.id, payments.c.reservation_id)
        .cte("payment")
    )
    theirs = and_(
        asked.c.reservation_id == debited.c.reservation_id, asked.c.user_id == debited.c.user_id
    )
    remembered = remembered_in(
        debited.join(payment, payment.c.reservation_id == debited.c.reservation_id)
        .join(asked, theirs)
        .join(
            checked,
            and_(
                checked.c.reservation_id == debited.c.reservation_id,
                checked.c.user_id == debited.c.user_id,
            ),
        ),
        answer=PaymentResult,
        fields={
            "payment_id": payment.c.id,
            "reservation_id": debited.c.reservation_id,
            "user_id": debited.c.user_id,
            "amount": debited.c.price,
            "status": literal(PaymentStatus.COMPLETED.value),
            "paid_at": asked.c.paid_at,
            "balance": debited.c.balance,
            "concert_id": checked.c.concert_id,
        },
        each={
            "user": debited.c.user_id,
            "key": asked.c.key,
            "fingerprint": asked.c.fingerprint,
            "status_code": asked.c.status_code,
            "now": debited.c.now,
        },
    )
    unfinished = exists(
        select(literal(1))
        .select_from(confirmed.outerjoin(entry, entry.c.reservation_id == confirmed.c.id))
        .where(entry.c.id.is_(None))
    )
    finished = case(
        (unfinished, func.boxoffice_run_again(CHANGED_UNDER_IT)), else_=literal(0)
    ).label("finished")
    return Query(
        select(
            checked.c.reservation_id,
            checked.c.user_id,
            checked.c.seat_id,
            checked.c.price,
            checked.c.concert_id,
            checked.c.live,
            checked.c.sells,
            checked.c.seat_held,
            checked.c.covered,
            checked.c.other_holds,
            debited.c.balance,
            payment.c.id.label("payment_id"),
            finished,
        )
        .select_from(
            checked.outerjoin(
                debited,
                and_(
                    debited.c.reservation_id == checked.c.reservation_id,
                    debited.c.user_id == checked.c.user_id,
                ),
            ).outerjoin(payment, payment.c.reservation_id == debited.c.reservation_id)
        )
        .add_cte(remembered),  # written whether or not a row of it is read
        postgres_only=True,
    )


SELL_EACH = _sell_each()


@dataclass(frozen=True, slots=True)
class Sale:
    """What the one-statement sale found and did: the hold's seat, price and concert,
    the fan's other live holds, each guard as the statement's snapshot read it, and
    the payment (None when a guard failed: then nothing was written)."""

    seat_id: int
    price: int
    concert_id: int
    other_holds: int
    live: bool
    sells: bool
    seat_held: bool
    covered: bool
    balance: int | None
    payment_id: int | None


async def sell(
    conn: Conn,
    *,
    reservation_id: int,
    user_id: int,
    sells: Sells,
    now: datetime,
    remember: Remember | None = None,
    statement: Query | None = None,
) -> Sale | None:
    """The sale in one statement (PostgreSQL only), all of it or none of it,
    remembering its answer under ``remember``'s key if given; None if the user has no
    such reservation. ``statement`` replaces the sale's own only in tests."""
    params = {"reservation": reservation_id, "user": user_id, "now": now, **sells_params(sells)}
    if remember is None:
        row = await conn.fetchrow(statement or SELL, **params)
    else:
        paid_at = _TIME.dump_python(now, mode="json")
        row = await conn.fetchrow(
            statement or SELL_REMEMBERED, **params, **remember.params(), paid_at=paid_at
        )
    return None if row is None else _sale_of(row)


@dataclass(frozen=True, slots=True)
class Selling:
    """One of the sales ``sell_each`` makes together."""

    reservation_id: int
    user_id: int
    now: datetime
    remember: Remember | None


async def sell_each(conn: Conn, sales: Sequence[Selling], *, sells: Sells) -> dict[int, Sale]:
    """``sell`` for several fans at once, each distinct, on a line that sells ``sells``
    for all (PostgreSQL): what it found and did, by fan (a fan missing has no such
    reservation). Atomic: a key already remembered fails the statement, and nothing is
    changed. See ``_sell_each``."""
    keyed = [s.remember for s in sales]
    rows = await conn.fetch(
        SELL_EACH,
        reservations=[s.reservation_id for s in sales],
        users=[s.user_id for s in sales],
        nows=[s.now for s in sales],
        keys=[r.key if r else None for r in keyed],
        fingerprints=[r.fingerprint if r else None for r in keyed],
        status_codes=[r.status_code if r else None for r in keyed],
        paid_ats=[_TIME.dump_python(s.now, mode="json") for s in sales],
        **sells_params(sells),
    )
    return {int(row["user_id"]): _sale_of(row) for row in rows}


def _sale_of(row: Row) -> Sale:
    return Sale(
        seat_id=row["seat_id"],
        price=row["price"],
        concert_id=row["concert_id"],
        other_holds=int(row["other_holds"]),
        live=row["live"],
        sells=row["sells"],
        seat_held=row["seat_held"],
        covered=row["covered"],
        balance=row["balance"],
        payment_id=row["payment_id"],
    )
