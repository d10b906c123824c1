"""SQL for the support view: reads across the users', holds', payments' and wallet's
tables, each capped at the newest ``MOST`` rows. It never writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select

from boxoffice.reservations import reads
from boxoffice.reservations.model import Reservation
from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import (
    payments,
    users,
    wallet_transactions,
    wallets,
)
from boxoffice.support.model import (
    MOST,
    FanEntry,
    FanPayment,
    FanRecord,
    kind_of,
)

_FAN = select(
    users.c.id,
    users.c.name,
    users.c.email,
    users.c.external_id,
    func.coalesce(wallets.c.balance, 0).label("balance"),
).select_from(users.outerjoin(wallets, wallets.c.user_id == users.c.id))
FAN_BY_ID = Query(_FAN.where(users.c.id == bindparam("user_id")))
FAN_BY_EMAIL = Query(_FAN.where(users.c.email == bindparam("email")))

PAYMENTS = Query(
    select(payments.c.id, payments.c.reservation_id, payments.c.amount, payments.c.paid_at)
    .where(payments.c.user_id == bindparam("user_id"))
    .order_by(payments.c.id.desc())
    .limit(MOST)
)
LEDGER = Query(
    select(
        wallet_transactions.c.id,
        wallet_transactions.c.type,
        wallet_transactions.c.amount,
        wallet_transactions.c.balance_after,
        wallet_transactions.c.created_at,
    )
    .where(wallet_transactions.c.user_id == bindparam("user_id"))
    .order_by(wallet_transactions.c.id.desc())
    .limit(MOST)
)


async def find_fan(
    conn: Conn, *, user_id: int | None = None, email: str | None = None
) -> Row | None:
    if user_id is not None:
        return await conn.fetchrow(FAN_BY_ID, user_id=user_id)
    return await conn.fetchrow(FAN_BY_EMAIL, email=email)


async def record_of(conn: Conn, fan: Row, *, now: datetime) -> FanRecord:
    """The fan's details and their newest reservations (as the fan sees them at
    ``now``), payments and ledger entries."""
    user_id = fan["id"]
    return FanRecord(
        user_id=user_id,
        name=fan["name"],
        email=fan["email"],
        kind=kind_of(email=fan["email"], external_id=fan["external_id"]),
        balance=int(fan["balance"]),
        reservations=await reservations_of(conn, user_id=user_id, now=now),
        payments=[
            FanPayment(
                payment_id=row["id"],
                reservation_id=row["reservation_id"],
                amount=int(row["amount"]),
                paid_at=row["paid_at"],
            )
            for row in await conn.fetch(PAYMENTS, user_id=user_id)
        ],
        ledger=[
            FanEntry(
                transaction_id=row["id"],
                type=row["type"],
                amount=int(row["amount"]),
                balance_after=int(row["balance_after"]),
                created_at=row["created_at"],
            )
            for row in await conn.fetch(LEDGER, user_id=user_id)
        ],
    )


async def reservations_of(conn: Conn, *, user_id: int, now: datetime) -> list[Reservation]:
    """The fan's newest reservations, as the fan sees them at ``now``."""
    return [r.as_of(now) for r in await reads.of_user(conn, user_id=user_id, most=MOST)]
