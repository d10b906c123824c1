"""Wallet use cases. Other domains move money only through ``open_wallet`` and
``pay_from`` here, inside their own transaction."""

from __future__ import annotations

from datetime import datetime

from pydantic import TypeAdapter

from boxoffice.errors import BalanceLimitExceeded, InsufficientBalance, UserNotFound
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.repository import Remember
from boxoffice.idempotency.service import Outcome
from boxoffice.storage.batcher import Batcher, Together
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict
from boxoffice.storage.query import Conn
from boxoffice.wallet import repository
from boxoffice.wallet.model import (
    ChargeResult,
    EntryType,
    LedgerEntry,
    check_charge_amount,
)

_charge_adapter = TypeAdapter(ChargeResult)


async def open_wallet(conn: Conn, *, user_id: int) -> None:
    await repository.create(conn, user_id=user_id)


class BalanceReads:
    """Fans' balance reads. Those that arrive in the same turn of the event loop share
    one statement (``boxoffice.storage.batcher``): each answer is read after its request
    arrived, so it is as fresh as a statement of its own, and a fan sees every charge
    or payment of theirs that was answered before. What is shared is the cost of a
    statement, which on this path was most of a read: a connection from the pool,
    the statement's round trip and its driver's work, once per batch instead of once
    per fan."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._batcher: Batcher[int, int | None] = Batcher(self._read)

    async def of(self, user_id: int) -> int:
        balance = await self._batcher.submit(user_id)
        if balance is None:
            raise UserNotFound("the token names a user that does not exist")
        return balance

    async def _read(self, user_ids: list[int]) -> list[int | None]:
        async with self._db.statement() as conn:
            found = await repository.balances(conn, user_ids=user_ids)
        return [found.get(user_id) for user_id in user_ids]

    async def close(self) -> None:
        """Wait for the reads already sent."""
        await self._batcher.close()


async def charge(
    *,
    db: Database,
    user_id: int,
    amount: int,
    max_charge: int,
    max_balance: int,
    idempotency_key: str | None,
    now: datetime,
    together: ChargeBatches | None = None,
) -> Outcome[ChargeResult]:
    """Add ``amount`` points. On PostgreSQL the credit, its ledger entry and the
    remembered answer are one statement, shared with other fans' charges of the same
    moment when ``together`` is given; on SQLite, steps in one transaction."""
    check_charge_amount(amount, max_charge=max_charge)

    async def apply(conn: Conn, remember: Remember | None = None) -> ChargeResult:
        charged = await repository.charge(
            conn, user_id=user_id, amount=amount, ceiling=max_balance, now=now, remember=remember
        )
        if charged is None:
            raise await _refusal(conn, user_id=user_id, max_balance=max_balance)
        return _charge_result(user_id, amount, charged)

    request = idempotency.Keyed(
        user_id=user_id,
        key=idempotency_key,
        fingerprint=idempotency.fingerprint("charge", {"amount": amount}),
        status_code=200,
        adapter=_charge_adapter,
    )
    if db.is_sqlite:
        return await idempotency.run_once(db, request, now=now, action=apply)
    if together is None:
        return await idempotency.run_remembering(db, request, action=apply, alone=True)

    async def first() -> Outcome[ChargeResult]:
        charged = await together.apply(
            repository.Charging(user_id, amount, max_balance, now, request.remember)
        )
        if charged is None:
            async with db.statement() as conn:
                raise await _refusal(conn, user_id=user_id, max_balance=max_balance)
        return Outcome(_charge_result(user_id, amount, charged), 200, replayed=False)

    return await idempotency.or_the_first_answer(first(), db, request)


def _charge_result(user_id: int, amount: int, charged: tuple[int, int]) -> ChargeResult:
    balance, entry_id = charged
    return ChargeResult(user_id=user_id, balance=balance, charged=amount, transaction_id=entry_id)


async def _refusal(conn: Conn, *, user_id: int, max_balance: int) -> Exception:
    """Why a charge that credited nothing was refused."""
    if await repository.balance(conn, user_id=user_id) is None:
        return UserNotFound("the token names a user that does not exist")
    return BalanceLimitExceeded(f"a balance may not pass {max_balance} points")


class ChargeBatches:
    """Charges on PostgreSQL arriving in the same turn of the event loop: those of
    distinct fans are one statement (``repository.charge_each``), each under its own
    guards, as ``BalanceReads`` shares a read (``boxoffice.storage.batcher.Together``). The
    only refusal that fails the statement rather than one fan's row is a key already
    remembered (a retry whose first attempt landed, or two first attempts racing):
    then each charge runs alone. A shared statement whose connection was lost is run
    again only when every charge in it has a key, as a charge alone is."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[repository.Charging, int, tuple[int, int]] = Together(
            together=self._shared,
            alone=self._alone,
            who=lambda charge: charge.user_id,
            unchanged=(Conflict,),
        )

    async def apply(self, charge: repository.Charging) -> tuple[int, int] | None:
        """The new balance and the ledger entry's id, or None (nothing credited)."""
        return await self._together.submit(charge)

    async def _shared(self, charges: list[repository.Charging]) -> dict[int, tuple[int, int]]:
        async def apply(conn: Conn) -> dict[int, tuple[int, int]]:
            return await repository.charge_each(conn, charges)

        keyed = all(each.remember is not None for each in charges)
        return await self._db.run_statement(apply, retry_lost=keyed)

    async def _alone(self, each: repository.Charging) -> tuple[int, int] | None:
        async def apply(conn: Conn) -> tuple[int, int] | None:
            return await repository.charge(
                conn,
                user_id=each.user_id,
                amount=each.amount,
                ceiling=each.ceiling,
                now=each.now,
                remember=each.remember,
            )

        return await self._db.run_statement(apply, retry_lost=each.remember is not None)

    async def close(self) -> None:
        """Wait for the charges already sent."""
        await self._together.close()


async def pay_from(
    conn: Conn, *, user_id: int, amount: int, reservation_id: int, now: datetime
) -> int:
    """Debit a payment and record it; the new balance. Part of the caller's transaction."""
    balance = await repository.debit(conn, user_id=user_id, amount=amount)
    if balance is None:
        raise short_of(amount)
    await repository.add_entry(
        conn,
        user_id=user_id,
        entry_type=EntryType.PAYMENT,
        amount=amount,
        balance_after=balance,
        reservation_id=reservation_id,
        now=now,
    )
    return balance


def short_of(amount: int) -> InsufficientBalance:
    return InsufficientBalance(f"the balance does not cover the price of {amount} points")


async def refund_to(
    conn: Conn, *, user_id: int, amount: int, reservation_id: int, now: datetime
) -> tuple[int, int]:
    """Give a payment back and record it: the new balance and the ledger entry's id.
    The balance ceiling does not apply. Part of the caller's transaction."""
    balance = await repository.give_back(conn, user_id=user_id, amount=amount)
    entry_id = await repository.add_entry(
        conn,
        user_id=user_id,
        entry_type=EntryType.REFUND,
        amount=amount,
        balance_after=balance,
        reservation_id=reservation_id,
        now=now,
    )
    return balance, entry_id


async def history(*, db: Database, user_id: int, limit: int) -> list[LedgerEntry]:
    async with db.statement() as conn:
        return await repository.entries(conn, user_id=user_id, limit=limit)
