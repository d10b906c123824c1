"""SQL for balances and the ledger. Every balance change is one guarded UPDATE."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Text,
    any_,
    bindparam,
    func,
    insert,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from boxoffice.idempotency.repository import Remember, remembered_in
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, wallets
from boxoffice.storage.tables import wallet_transactions as ledger
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
# Several fans' charges in one statement (PostgreSQL): each credited under its own
# guard, each with its ledger entry and, under a key, its remembered answer. The fans
# must be distinct (a fan's row is credited once per statement). Their wallet rows are
# locked first, in order, so that two such statements meet in the same order.
_users = bindparam("users", type_=ARRAY(BigInteger))
_each = (
    func.unnest(
        _users,
        bindparam("amounts", type_=ARRAY(BigInteger)),
        bindparam("ceilings", type_=ARRAY(BigInteger)),
        bindparam("nows", type_=ARRAY(UTCDateTime())),
        bindparam("keys", type_=ARRAY(Text)),
        bindparam("fingerprints", type_=ARRAY(Text)),
        bindparam("status_codes", type_=ARRAY(Integer)),
    )
    .table_valued("user_id", "amount", "ceiling", "now", "key", "fingerprint", "status_code")
    .render_derived(name="each")
)
_locked = locked_in_order(wallets.c.user_id, wallets.c.user_id == any_(_users), name="locked")
_credited_each = (
    update(wallets)
    .where(
        wallets.c.user_id == _each.c.user_id,
        wallets.c.user_id == _locked.c.user_id,
        wallets.c.balance <= _each.c.ceiling - _each.c.amount,
    )
    .values(balance=wallets.c.balance + _each.c.amount)
    .returning(
        wallets.c.user_id,
        wallets.c.balance,
        *(column for column in _each.c if column.name != "user_id"),
    )
    .cte("credited")
)
_entry_each = (
    insert(ledger)
    .from_select(
        ["user_id", "type", "amount", "balance_after", "reservation_id", "created_at"],
        select(
            _credited_each.c.user_id,
            literal(EntryType.CHARGE.value),
            _credited_each.c.amount * signed_amount(EntryType.CHARGE, 1),
            _credited_each.c.balance,
            null(),
            _credited_each.c.now,
        ),
    )
    .returning(ledger.c.id, ledger.c.user_id)
    .cte("entry")
)
_charged_each = _credited_each.join(_entry_each, _entry_each.c.user_id == _credited_each.c.user_id)
_remembered_each = remembered_in(
    _charged_each,
    answer=ChargeResult,
    fields={
        "user_id": _credited_each.c.user_id,
        "balance": _credited_each.c.balance,
        "charged": _credited_each.c.amount,
        "transaction_id": _entry_each.c.id,
    },
    each={
        "user": _credited_each.c.user_id,
        "key": _credited_each.c.key,
        "fingerprint": _credited_each.c.fingerprint,
        "status_code": _credited_each.c.status_code,
        "now": _credited_each.c.now,
    },
)
CHARGE_EACH = Query(
    select(_credited_each.c.user_id, _credited_each.c.balance, _entry_each.c.id)
    .select_from(_charged_each)
    .add_cte(_remembered_each),  # written whether or not a row of it is read
    postgres_only=True,
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


@dataclass(frozen=True, slots=True)
class Charging:
    """One of the charges ``charge_each`` applies together."""

    user_id: int
    amount: int
    ceiling: int
    now: datetime
    remember: Remember | None


async def charge_each(conn: Conn, charges: Sequence[Charging]) -> dict[int, tuple[int, int]]:
    """``charge`` for several fans at once, each distinct, in one statement (PostgreSQL
    only): for each fan credited, the new balance and the ledger entry's id (a fan
    missing was refused by the ceiling, or has no wallet). Atomic: a key already
    remembered fails the statement, and nothing is changed."""
    keyed = [c.remember for c in charges]
    rows = await conn.fetch(
        CHARGE_EACH,
        users=[c.user_id for c in charges],
        amounts=[c.amount for c in charges],
        ceilings=[c.ceiling for c in charges],
        nows=[c.now for c in charges],
        keys=[r.key if r else None for r in keyed],
        fingerprints=[r.fingerprint if r else None for r in keyed],
        status_codes=[r.status_code if r else None for r in keyed],
    )
    return {int(row["user_id"]): (int(row["balance"]), int(row["id"])) for row in rows}


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
