"""Invariant checks over stored state, for tests, benchmarks and operators.

Each check is one query that returns the rows breaking an invariant; an empty
report means the store is consistent.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.storage.db import Database
from boxoffice.storage.tables import payments, reservations, seats, wallet_transactions, wallets


async def _ledger_mismatches(conn: AsyncConnection) -> list[str]:
    ledger_sum = (
        select(
            wallet_transactions.c.user_id,
            func.sum(wallet_transactions.c.amount).label("total"),
        )
        .group_by(wallet_transactions.c.user_id)
        .subquery()
    )
    rows = await conn.execute(
        select(wallets.c.user_id, wallets.c.balance, func.coalesce(ledger_sum.c.total, 0))
        .select_from(wallets.outerjoin(ledger_sum, ledger_sum.c.user_id == wallets.c.user_id))
        .where(wallets.c.balance != func.coalesce(ledger_sum.c.total, 0))
    )
    return [f"user {u}: balance {b} but ledger sums to {t}" for u, b, t in rows]


async def _negative_balances(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        select(wallets.c.user_id, wallets.c.balance).where(wallets.c.balance < 0)
    )
    return [f"user {u}: negative balance {b}" for u, b in rows]


async def _sales_without_payment(conn: AsyncConnection) -> list[str]:
    """Every sold seat, CONFIRMED reservation and payment must come as a set."""
    problems = []
    rows = await conn.execute(
        select(seats.c.id, seats.c.sold_reservation_id)
        .select_from(
            seats.outerjoin(payments, payments.c.reservation_id == seats.c.sold_reservation_id)
        )
        .where(seats.c.sold_reservation_id.is_not(None), payments.c.id.is_(None))
    )
    problems += [f"seat {s}: sold to reservation {r} with no payment" for s, r in rows]
    unpaid = await conn.scalars(
        select(reservations.c.id)
        .select_from(
            reservations.outerjoin(payments, payments.c.reservation_id == reservations.c.id)
        )
        .where(reservations.c.status == "CONFIRMED", payments.c.id.is_(None))
    )
    problems += [f"reservation {r}: CONFIRMED with no payment" for r in unpaid]
    rows = await conn.execute(
        select(payments.c.id, payments.c.reservation_id)
        .select_from(
            payments.join(reservations, reservations.c.id == payments.c.reservation_id).outerjoin(
                seats, seats.c.sold_reservation_id == payments.c.reservation_id
            )
        )
        .where(
            ((reservations.c.status == "CONFIRMED") & seats.c.id.is_(None))
            | ((reservations.c.status == "REFUNDED") & seats.c.id.is_not(None))
            | reservations.c.status.not_in(["CONFIRMED", "REFUNDED"])
        )
    )
    problems += [
        f"payment {p}: reservation {r} neither sold (confirmed) nor back on sale (refunded)"
        for p, r in rows
    ]
    unmatched = await conn.scalars(
        select(payments.c.id)
        .select_from(
            payments.outerjoin(
                wallet_transactions,
                (wallet_transactions.c.reservation_id == payments.c.reservation_id)
                & (wallet_transactions.c.type == "PAYMENT"),
            )
        )
        .group_by(payments.c.id)
        .having(func.count(wallet_transactions.c.id) != 1)
    )
    problems += [f"payment {p}: not exactly one PAYMENT ledger entry" for p in unmatched]
    return problems + await _refunds_without_sale(conn)


async def _refunds_without_sale(conn: AsyncConnection) -> list[str]:
    """A refund gives back a payment, once: each REFUNDED reservation has a payment
    and exactly one REFUND entry, and no REFUND entry is for anything else."""
    refunds = wallet_transactions.alias("refunds")
    rows = await conn.execute(
        select(reservations.c.id, func.count(refunds.c.id), func.count(payments.c.id))
        .select_from(
            reservations.outerjoin(
                refunds,
                (refunds.c.reservation_id == reservations.c.id) & (refunds.c.type == "REFUND"),
            ).outerjoin(payments, payments.c.reservation_id == reservations.c.id)
        )
        .where(reservations.c.status == "REFUNDED")
        .group_by(reservations.c.id)
        .having((func.count(refunds.c.id) != 1) | (func.count(payments.c.id) != 1))
    )
    problems = [
        f"reservation {r}: refunded with {n} REFUND entries, {p} payments" for r, n, p in rows
    ]
    strays = await conn.scalars(
        select(wallet_transactions.c.id)
        .select_from(
            wallet_transactions.outerjoin(
                reservations, reservations.c.id == wallet_transactions.c.reservation_id
            )
        )
        .where(
            wallet_transactions.c.type == "REFUND",
            (reservations.c.status != "REFUNDED") | reservations.c.id.is_(None),
        )
    )
    return problems + [f"ledger entry {e}: a REFUND of a reservation not refunded" for e in strays]


async def _double_sales(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        select(reservations.c.seat_id, func.count())
        .where(reservations.c.status == "CONFIRMED")
        .group_by(reservations.c.seat_id)
        .having(func.count() > 1)
    )
    return [f"seat {s}: confirmed {n} times" for s, n in rows]


async def audit(db: Database) -> list[str]:
    """Every broken invariant found in storage, as readable lines."""
    async with db.core.connect() as conn:
        problems: list[str] = []
        for check in (
            _ledger_mismatches,
            _negative_balances,
            _sales_without_payment,
            _double_sales,
        ):
            problems += await check(conn)
        return problems
