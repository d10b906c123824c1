"""SQL for balances and the ledger. Every balance change is one guarded UPDATE, and
every ledger entry is written by ``ledger_entry``; the guards (``covers``,
``under_ceiling``) have one home here, used by the steps a charge or a payment takes
on SQLite and by the statements PostgreSQL shares between fans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Insert,
    Integer,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from boxoffice.idempotency.repository import Remember, remembered_in, remembered_params
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, wallets
from boxoffice.storage.tables import wallet_transactions as ledger
from boxoffice.wallet.model import ChargeResult, EntryType, LedgerEntry, signed_amount

# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
_USER = wallets.c.user_id == bindparam("user", type_=BigInteger())
_AMOUNT = bindparam("amount", type_=BigInteger)
_NOW = bindparam("now", type_=UTCDateTime())


def covers(amount: ColumnElement[int]) -> ColumnElement[bool]:
    """The guard of every debit: the balance covers the amount (it never goes below 0)."""
    return wallets.c.balance >= amount


def under_ceiling(amount: ColumnElement[int], ceiling: ColumnElement[int]) -> ColumnElement[bool]:
    """The guard of every charge: the balance stays at or under the ceiling."""
    return wallets.c.balance <= ceiling - amount


def less(amount: ColumnElement[int]) -> ColumnElement[int]:
    return wallets.c.balance - amount


def ledger_entry(
    rows: Any,
    *,
    user: ColumnElement[int],
    entry_type: EntryType,
    amount: ColumnElement[int],
    balance_after: ColumnElement[int],
    reservation: ColumnElement[Any],
    now: ColumnElement[datetime],
) -> Insert:
    """The ledger entries of ``rows`` (a FROM clause, or None for one of bound
    values): ``amount`` points moved, given unsigned, carried with the sign its type
    has. The one way an entry is written."""
    values = select(
        user,
        literal(entry_type.value),
        amount * signed_amount(entry_type, 1),
        balance_after,
        reservation,
        now,
    )
    return insert(ledger).from_select(
        ["user_id", "type", "amount", "balance_after", "reservation_id", "created_at"],
        values if rows is None else values.select_from(rows),
    )


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
    .where(_USER, under_ceiling(_AMOUNT, bindparam("ceiling", type_=BigInteger)))
    .values(balance=wallets.c.balance + _AMOUNT)
    .returning(wallets.c.balance)
)
GIVE_BACK = Query(
    update(wallets)
    .where(_USER)
    .values(balance=wallets.c.balance + _AMOUNT)
    .returning(wallets.c.balance)
)
DEBIT = Query(
    update(wallets)
    .where(_USER, covers(_AMOUNT))
    .values(balance=less(_AMOUNT))
    .returning(wallets.c.balance)
)
ADD_ENTRY = {
    entry_type: Query(
        ledger_entry(
            None,
            user=bindparam("user", type_=BigInteger),
            entry_type=entry_type,
            amount=_AMOUNT,
            balance_after=bindparam("balance_after", type_=BigInteger),
            reservation=bindparam("reservation", type_=BigInteger),
            now=_NOW,
        ).returning(ledger.c.id)
    )
    for entry_type in EntryType
}


# Fans' charges in one statement (PostgreSQL): each credited under its own guard,
# each with its ledger entry and, under a key, its remembered answer. The fans must
# be distinct (a fan's row is credited once per statement). Their wallet rows are
# locked first, in order, so that two such statements meet in the same order.
#
# PostgreSQL plans a statement for the values it is given (a custom plan) on its
# first five runs on a connection, and then keeps one plan for any values (the
# generic plan) unless the custom ones cost less. An array given as it is would be
# sized exactly (a fan alone: one row), every custom plan would look cheaper than
# the generic one, and the statement would be planned again on every run: most of
# a lone charge's time. Read through a sub-select (``_unseen``), an array is sized
# alike in both (ten rows), so the generic plan is kept: one plan per connection,
# for a fan alone as for a batch.
def _unseen(values: BindParameter[Any]) -> ColumnElement[Any]:
    """``values`` as the planner cannot see them: sized as any array of its type."""
    return cast(select(values).scalar_subquery(), values.type)


_users = bindparam("users", type_=ARRAY(BigInteger))
_each = (
    func.unnest(
        _unseen(_users),
        _unseen(bindparam("amounts", type_=ARRAY(BigInteger))),
        _unseen(bindparam("ceilings", type_=ARRAY(BigInteger))),
        _unseen(bindparam("nows", type_=ARRAY(UTCDateTime()))),
        _unseen(bindparam("keys", type_=ARRAY(Text))),
        _unseen(bindparam("fingerprints", type_=ARRAY(Text))),
        _unseen(bindparam("status_codes", type_=ARRAY(Integer))),
    )
    .table_valued("user_id", "amount", "ceiling", "now", "key", "fingerprint", "status_code")
    .render_derived(name="each")
)
_locked = locked_in_order(
    wallets.c.user_id, wallets.c.user_id == any_(_unseen(_users)), name="locked"
)
_credited = (
    update(wallets)
    .where(
        wallets.c.user_id == _each.c.user_id,
        wallets.c.user_id == _locked.c.user_id,
        under_ceiling(_each.c.amount, _each.c.ceiling),
    )
    .values(balance=wallets.c.balance + _each.c.amount)
    .returning(
        wallets.c.user_id,
        wallets.c.balance,
        *(column for column in _each.c if column.name != "user_id"),
    )
    .cte("credited")
)
_entry = (
    ledger_entry(
        _credited,
        user=_credited.c.user_id,
        entry_type=EntryType.CHARGE,
        amount=_credited.c.amount,
        balance_after=_credited.c.balance,
        reservation=null(),
        now=_credited.c.now,
    )
    .returning(ledger.c.id, ledger.c.user_id)
    .cte("entry")
)
_charged = _credited.join(_entry, _entry.c.user_id == _credited.c.user_id)
_remembered = remembered_in(
    _charged,
    answer=ChargeResult,
    fields={
        "user_id": _credited.c.user_id,
        "balance": _credited.c.balance,
        "charged": _credited.c.amount,
        "transaction_id": _entry.c.id,
    },
    each={
        "user": _credited.c.user_id,
        "key": _credited.c.key,
        "fingerprint": _credited.c.fingerprint,
        "status_code": _credited.c.status_code,
        "now": _credited.c.now,
    },
)
CHARGE_EACH = Query(
    select(_credited.c.user_id, _credited.c.balance, _entry.c.id)
    .select_from(_charged)
    .add_cte(_remembered),  # written whether or not a row of it is read
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
    rows = await conn.fetch(
        CHARGE_EACH,
        users=[c.user_id for c in charges],
        amounts=[c.amount for c in charges],
        ceilings=[c.ceiling for c in charges],
        nows=[c.now for c in charges],
        **remembered_params([c.remember for c in charges]),
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
    """A ledger entry of ``amount`` points moved (given unsigned); its id."""
    entry_id = await conn.fetchval(
        ADD_ENTRY[entry_type],
        user=user_id,
        amount=amount,
        balance_after=balance_after,
        reservation=reservation_id,
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
