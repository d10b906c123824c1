"""SQL for balances and the ledger. Every balance change is one guarded UPDATE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    any_,
    bindparam,
    insert,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from boxoffice.idempotency.repository import Remember, remembered_in
from boxoffice.query import Conn, Query
from boxoffice.tables import UTCDateTime, wallets
from boxoffice.tables import wallet_transactions as ledger
from boxoffice.wallet.model import ChargeResult, EntryType, LedgerEntry, signed_amount

# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
_USER = wallets.c.user_id == bindparam("user", type_=BigInteger())
CREATE = Query(insert(wallets).values(user_id=bindparam("user_id"), balance=0))
BALANCE = Query(select(wallets.c.balance).where(_USER))
BALANCES = Query(
    select(wallets.c.user_id, wallets.c.balance).where(
        wallets.c.user_id == any_(bindparam("users", type_=ARRAY(BigInteger)))
    ),
    postgres_only=True,
)
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
# On PostgreSQL a charge is one statement: the credit, and its ledger entry fed by the
# credit's new balance (no row when the credit's guard refused it).
_credited = CREDIT.statement.cte("credited")  # type: ignore[attr-defined]
_charge_entry = (
    insert(ledger)
    .from_select(
        ["user_id", "type", "amount", "balance_after", "reservation_id", "created_at"],
        select(
            bindparam("user", type_=BigInteger),
            literal(EntryType.CHARGE.value),
            bindparam("amount", type_=BigInteger) * signed_amount(EntryType.CHARGE, 1),
            _credited.c.balance,
            null(),
            bindparam("now", type_=UTCDateTime()),
        ).select_from(_credited),
    )
    .returning(ledger.c.id)
    .cte("entry")
)
_charged = _credited.join(_charge_entry, true())
CHARGE = Query(select(_credited.c.balance, _charge_entry.c.id).select_from(_charged))
# ... and with its answer remembered under an Idempotency-Key, in the same statement:
# atomic by itself, it needs no transaction around it.
_remembered = remembered_in(
    _charged,
    answer=ChargeResult,
    fields={
        "user_id": bindparam("user", type_=BigInteger),
        "balance": _credited.c.balance,
        "charged": bindparam("amount", type_=BigInteger),
        "transaction_id": _charge_entry.c.id,
    },
)
CHARGE_REMEMBERED = Query(
    select(_credited.c.balance, _charge_entry.c.id).select_from(_charged.join(_remembered, true()))
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


async def balances(conn: Conn, *, user_ids: Sequence[int]) -> dict[int, int]:
    """The balance of each of ``user_ids`` that has a wallet: one statement on
    PostgreSQL, one per fan on SQLite (in process, where a statement costs no round
    trip)."""
    if conn.modifying_with:
        rows = await conn.fetch(BALANCES, users=list(user_ids))
        return {int(row["user_id"]): int(row["balance"]) for row in rows}
    found: dict[int, int] = {}
    for user_id in dict.fromkeys(user_ids):
        value = await balance(conn, user_id=user_id)
        if value is not None:
            found[user_id] = value
    return found


async def credit(conn: Conn, *, user_id: int, amount: int, ceiling: int) -> int | None:
    """Add ``amount`` unless that would pass ``ceiling``; the new balance, or None."""
    value = await conn.fetchval(CREDIT, user=user_id, amount=amount, ceiling=ceiling)
    return None if value is None else int(value)


async def charge(
    conn: Conn,
    *,
    user_id: int,
    amount: int,
    ceiling: int,
    now: datetime,
    remember: Remember | None = None,
) -> tuple[int, int] | None:
    """Credit ``amount`` unless that would pass ``ceiling``, and record it: the new
    balance and the ledger entry's id, or None (nothing changed). ``remember`` (on
    PostgreSQL only) remembers the answer under its key in the same statement."""
    if conn.modifying_with:
        params: dict[str, object] = {"user": user_id, "amount": amount, "ceiling": ceiling}
        if remember is None:
            row = await conn.fetchrow(CHARGE, now=now, **params)
        else:
            row = await conn.fetchrow(CHARGE_REMEMBERED, now=now, **params, **remember.params())
        return None if row is None else (int(row["balance"]), int(row["id"]))
    assert remember is None, "SQLite remembers an answer in a statement of its own"
    balance = await credit(conn, user_id=user_id, amount=amount, ceiling=ceiling)
    if balance is None:
        return None
    entry_id = await add_entry(
        conn,
        user_id=user_id,
        entry_type=EntryType.CHARGE,
        amount=amount,
        balance_after=balance,
        reservation_id=None,
        now=now,
    )
    return balance, entry_id


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
    """A ledger entry of ``amount`` points moved (given unsigned: the entry carries it
    with the sign its type has); its id."""
    entry_id = await conn.fetchval(
        ADD_ENTRY,
        user_id=user_id,
        type=entry_type.value,
        amount=signed_amount(entry_type, amount),
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
