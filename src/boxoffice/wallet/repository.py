"""SQL for balances and the ledger. Every balance change is one guarded UPDATE."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, bindparam, insert, select, update

from boxoffice.query import Conn, Query
from boxoffice.tables import wallet_transactions as ledger
from boxoffice.tables import wallets
from boxoffice.wallet.model import EntryType, LedgerEntry

# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
_USER = wallets.c.user_id == bindparam("user", type_=BigInteger())
CREATE = Query(insert(wallets).values(user_id=bindparam("user_id"), balance=0))
BALANCE = Query(select(wallets.c.balance).where(_USER))
CREDIT = Query(
    update(wallets)
    .where(
        _USER,
        wallets.c.balance
        <= bindparam("ceiling", type_=BigInteger) - bindparam("amount", type_=BigInteger),
    )
    .values(balance=wallets.c.balance + bindparam("amount"))
    .returning(wallets.c.balance)
)
GIVE_BACK = Query(
    update(wallets)
    .where(_USER)
    .values(balance=wallets.c.balance + bindparam("amount"))
    .returning(wallets.c.balance)
)


def covers(amount: ColumnElement[int]) -> ColumnElement[bool]:
    """The guard of every debit: the balance covers the amount (it never goes below 0)."""
    return wallets.c.balance >= amount


def less(amount: ColumnElement[int]) -> ColumnElement[int]:
    return wallets.c.balance - amount


_AMOUNT = bindparam("amount", type_=BigInteger)
DEBIT = Query(
    update(wallets)
    .where(_USER, covers(_AMOUNT))
    .values(balance=less(_AMOUNT))
    .returning(wallets.c.balance)
)
ADD_ENTRY = Query(
    insert(ledger)
    .values(
        user_id=bindparam("user_id"),
        type=bindparam("type"),
        amount=bindparam("amount"),
        balance_after=bindparam("balance_after"),
        reservation_id=bindparam("reservation_id"),
        created_at=bindparam("now"),
    )
    .returning(ledger.c.id)
)
ENTRIES = Query(
    select(ledger.c.id, ledger.c.type, ledger.c.amount, ledger.c.balance_after, ledger.c.created_at)
    .where(ledger.c.user_id == bindparam("user_id"))
    .order_by(ledger.c.id.desc())
    .limit(bindparam("limit"))
)


async def create(conn: Conn, *, user_id: int) -> None:
    await conn.execute(CREATE, user_id=user_id)


async def balance(conn: Conn, *, user_id: int) -> int | None:
    value = await conn.fetchval(BALANCE, user=user_id)
    return None if value is None else int(value)


async def credit(conn: Conn, *, user_id: int, amount: int, ceiling: int) -> int | None:
    """Add ``amount`` unless that would pass ``ceiling``; the new balance, or None."""
    value = await conn.fetchval(CREDIT, user=user_id, amount=amount, ceiling=ceiling)
    return None if value is None else int(value)


async def give_back(conn: Conn, *, user_id: int, amount: int) -> int:
    """Add ``amount`` whatever the ceiling (money coming back is not a new charge)."""
    return int(await conn.fetchval(GIVE_BACK, user=user_id, amount=amount))


async def debit(conn: Conn, *, user_id: int, amount: int) -> int | None:
    """Take ``amount`` if the balance covers it; the new balance, or None."""
    value = await conn.fetchval(DEBIT, user=user_id, amount=amount)
    return None if value is None else int(value)


async def add_entry(
    conn: Conn,
    *,
    user_id: int,
    entry_type: EntryType,
    amount: int,
    balance_after: int,
    reservation_id: int | None,
    now: datetime,
) -> int:
    entry_id = await conn.fetchval(
        ADD_ENTRY,
        user_id=user_id,
        type=entry_type.value,
        amount=amount,
        balance_after=balance_after,
        reservation_id=reservation_id,
        now=now,
    )
    return int(entry_id)


async def entries(conn: Conn, *, user_id: int, limit: int) -> list[LedgerEntry]:
    rows = await conn.fetch(ENTRIES, user_id=user_id, limit=limit)
    return [
        LedgerEntry(
            transaction_id=row["id"],
            type=EntryType(row["type"]),
            amount=row["amount"],
            balance_after=row["balance_after"],
            created_at=row["created_at"],
        )
        for row in rows
    ]
