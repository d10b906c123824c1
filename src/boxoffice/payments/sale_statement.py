"""The sale as one statement on PostgreSQL, for the fans of one moment together.

Each fan's sale is made as it would be alone, under the guards of
``payments.repository``: every guard read first in the statement's snapshot, and
each write guarded again on its row's latest version (PostgreSQL reads a row a
concurrent transaction changed again when its lock is granted). The fans are all
distinct and on a line that sells the same concerts for each. The rows it writes are
locked table by table in the order a sale writes them (the holds, then their seats,
then the wallets), each table's in the order of their ids, so two such statements
meet in the same order. A sale begun but not finished (the hold confirmed, a later
part wrote nothing) rolls the whole statement back as a serialization failure
(``boxoffice_run_again``), and it is run again: all or nothing with no transaction
around it. A fan alone is the same statement with one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from boxoffice.idempotency.repository import remembered_in, remembered_params
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.payments.repository import (
    CONFIRMED,
    Sale,
    Selling,
    guarded,
    guards,
    held_for_sale,
    payable,
    sale_of,
    sold_to,
)
from boxoffice.queue.model import Sells
from boxoffice.queue.repository import sells_params
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, payments, reservations, seats, wallets
from boxoffice.storage.tables import wallet_transactions as ledger
from boxoffice.wallet.model import EntryType
from boxoffice.wallet.repository import covers, ledger_entry, less

_TIME = TypeAdapter(datetime)
CHANGED_UNDER_IT = "a row of the sale changed while its statement ran"


def _asked() -> Any:
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
    return select(each).cte("asked")


def _confirmed(go: Any) -> Any:
    """The holds of the fans ``go`` lets through, locked in order, then confirmed."""
    held = locked_in_order(
        reservations.c.id, reservations.c.id.in_(select(go.c.reservation_id)), name="held"
    )
    return (
        update(reservations)
        .where(
            reservations.c.id == held.c.id,
            *payable(go.c.reservation_id, go.c.user_id, go.c.now),
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


def _writes(go: Any) -> tuple[Any, Any, Any]:
    """The sale's writes for the fans ``go`` lets through, each table's rows locked in
    order first: the holds confirmed, their seats sold, the wallets debited."""
    confirmed = _confirmed(go)
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
    return confirmed, sold, debited


def _checked(asked: Any) -> Any:
    """Each fan's ``guards``, read in the statement's snapshot before anything is
    written; a fan without the reservation asked for has no row."""
    return (
        select(
            asked.c.reservation_id,
            asked.c.user_id,
            asked.c.now,
            *guards(asked.c.reservation_id, asked.c.user_id, asked.c.now, line=True),
        )
        .select_from(
            asked.join(
                guarded(),
                and_(
                    reservations.c.id == asked.c.reservation_id,
                    reservations.c.user_id == asked.c.user_id,
                ),
            )
        )
        .cte("checked")
    )


def _recorded(debited: Any) -> tuple[Any, Any]:
    """The ledger entry and the payment of each fan debited."""
    d = debited.c
    entry = (
        ledger_entry(
            debited,
            user=d.user_id,
            entry_type=EntryType.PAYMENT,
            amount=d.price,
            balance_after=d.balance,
            reservation=d.reservation_id,
            now=d.now,
        )
        .returning(ledger.c.id, ledger.c.reservation_id)
        .cte("entry")
    )
    payment = (
        insert(payments)
        .from_select(
            ["reservation_id", "user_id", "amount", "paid_at"],
            select(d.reservation_id, d.user_id, d.price, d.now),
        )
        .returning(payments.c.id, payments.c.reservation_id)
        .cte("payment")
    )
    return entry, payment


def _remembered(asked: Any, checked: Any, debited: Any, payment: Any) -> Any:
    """The answer of each keyed payment, remembered under its key."""
    d = debited.c
    return remembered_in(
        debited.join(payment, payment.c.reservation_id == d.reservation_id)
        .join(checked, _theirs(checked, debited))
        .join(asked, _theirs(asked, debited)),
        answer=PaymentResult,
        fields={
            "payment_id": payment.c.id,
            "reservation_id": d.reservation_id,
            "user_id": d.user_id,
            "amount": d.price,
            "status": literal(PaymentStatus.COMPLETED.value),
            # As the answer's adapter writes it: a time in JSON from PostgreSQL would
            # carry the session's time zone.
            "paid_at": asked.c.paid_at,
            "balance": d.balance,
            "concert_id": checked.c.concert_id,
        },
        each={
            "user": d.user_id,
            "key": asked.c.key,
            "fingerprint": asked.c.fingerprint,
            "status_code": asked.c.status_code,
            "now": d.now,
        },
    )


def _theirs(one: Any, other: Any) -> Any:
    """Two parts' rows of the same fan's sale."""
    return and_(one.c.reservation_id == other.c.reservation_id, one.c.user_id == other.c.user_id)


def _finished(confirmed: Any, entry: Any) -> Any:
    """0, or the statement rolled back when a hold it confirmed got no ledger entry."""
    unfinished = exists(
        select(literal(1))
        .select_from(confirmed.outerjoin(entry, entry.c.reservation_id == confirmed.c.id))
        .where(entry.c.id.is_(None))
    )
    return case((unfinished, func.boxoffice_run_again(CHANGED_UNDER_IT)), else_=literal(0)).label(
        "finished"
    )


def _sell_each() -> Query:
    """The statement: one row per fan who has the reservation asked for, with the
    fan's id and reservation, the ``guards`` as read, and the balance and payment
    when it was paid."""
    asked = _asked()
    checked = _checked(asked)
    go = (
        select(checked.c.reservation_id, checked.c.user_id, checked.c.now)
        .where(checked.c.live, checked.c.sells, checked.c.seat_held, checked.c.covered)
        .cte("go")
    )
    confirmed, _sold, debited = _writes(go)
    entry, payment = _recorded(debited)
    return Query(
        select(
            *(column for column in checked.c if column.name != "now"),
            debited.c.balance,
            payment.c.id.label("payment_id"),
            _finished(confirmed, entry),
        )
        .select_from(
            checked.outerjoin(debited, _theirs(checked, debited)).outerjoin(
                payment, payment.c.reservation_id == debited.c.reservation_id
            )
        )
        .add_cte(_remembered(asked, checked, debited, payment)),  # written even if unread
        postgres_only=True,
    )


SELL_EACH = _sell_each()


async def sell_each(conn: Conn, sales: Sequence[Selling], *, sells: Sells) -> dict[int, Sale]:
    """Each fan's sale, in one statement (PostgreSQL): what it found and did, by fan
    (a fan missing has no such reservation). The fans must be distinct, on a line
    that sells ``sells`` for all. Atomic: a key already remembered fails the
    statement, and nothing is changed."""
    rows = await conn.fetch(
        SELL_EACH,
        reservations=[s.reservation_id for s in sales],
        users=[s.user_id for s in sales],
        nows=[s.now for s in sales],
        paid_ats=[_TIME.dump_python(s.now, mode="json") for s in sales],
        **remembered_params([s.remember for s in sales]),
        **sells_params(sells),
    )
    return {
        int(row["user_id"]): sale_of(row, balance=row["balance"], payment_id=row["payment_id"])
        for row in rows
    }
