"""SQL for balances and the ledger. Every balance change is one guarded UPDATE."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.tables import wallet_transactions as ledger
from boxoffice.tables import wallets
from boxoffice.wallet.model import EntryType, LedgerEntry


async def create(conn: AsyncConnection, *, user_id: int) -> None:
    await conn.execute(insert(wallets).values(user_id=user_id, balance=0))


async def balance(conn: AsyncConnection, *, user_id: int) -> int | None:
    result = await conn.execute(select(wallets.c.balance).where(wallets.c.user_id == user_id))
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def credit(conn: AsyncConnection, *, user_id: int, amount: int, ceiling: int) -> int | None:
    """Add ``amount`` unless that would pass ``ceiling``; the new balance, or None."""
    result = await conn.execute(
        update(wallets)
        .where(wallets.c.user_id == user_id, wallets.c.balance <= ceiling - amount)
        .values(balance=wallets.c.balance + amount)
        .returning(wallets.c.balance)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def give_back(conn: AsyncConnection, *, user_id: int, amount: int) -> int:
    """Add ``amount`` whatever the ceiling (money coming back is not a new charge)."""
    result = await conn.execute(
        update(wallets)
        .where(wallets.c.user_id == user_id)
        .values(balance=wallets.c.balance + amount)
        .returning(wallets.c.balance)
    )
    return int(result.scalar_one())


async def debit(conn: AsyncConnection, *, user_id: int, amount: int) -> int | None:
    """Take ``amount`` if the balance covers it; the new balance, or None."""
    result = await conn.execute(
        update(wallets)
        .where(wallets.c.user_id == user_id, wallets.c.balance >= amount)
        .values(balance=wallets.c.balance - amount)
        .returning(wallets.c.balance)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def add_entry(
    conn: AsyncConnection,
    *,
    user_id: int,
    entry_type: EntryType,
    amount: int,
    balance_after: int,
    reservation_id: int | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(ledger)
        .values(
            user_id=user_id,
            type=entry_type.value,
            amount=amount,
            balance_after=balance_after,
            reservation_id=reservation_id,
            created_at=now,
        )
        .returning(ledger.c.id)
    )
    return int(result.scalar_one())


async def entries(conn: AsyncConnection, *, user_id: int, limit: int) -> list[LedgerEntry]:
    rows = await conn.execute(
        select(
            ledger.c.id, ledger.c.type, ledger.c.amount, ledger.c.balance_after, ledger.c.created_at
        )
        .where(ledger.c.user_id == user_id)
        .order_by(ledger.c.id.desc())
        .limit(limit)
    )
    return [
        LedgerEntry(
            transaction_id=row.id,
            type=EntryType(row.type),
            amount=row.amount,
            balance_after=row.balance_after,
            created_at=row.created_at,
        )
        for row in rows
    ]
