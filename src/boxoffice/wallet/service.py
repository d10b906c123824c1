"""Wallet use cases: balances, charges, the ledger. A sale's debit is part of the
sale's own writes (``payments.writers``), built from this domain's guards and ledger
insert (``wallet.repository``); a refund credits through ``refund_to``."""

from __future__ import annotations

from datetime import datetime

from boxoffice.errors import BalanceLimitExceeded, InsufficientBalance, UserNotFound
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.service import Outcome
from boxoffice.storage.batcher import Batcher
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.wallet import repository
from boxoffice.wallet.model import (
    ChargeResult,
    EntryType,
    LedgerEntry,
    check_charge_amount,
)
from boxoffice.wallet.writers import ANSWER, ChargeWriter


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
    charges: ChargeWriter,
    user_id: int,
    amount: int,
    max_charge: int,
    max_balance: int,
    idempotency_key: str | None,
    now: datetime,
) -> Outcome[ChargeResult]:
    """Add ``amount`` points: the credit, its ledger entry and the answer remembered
    under the key, all or none of it (``charges`` says how: see ``wallet.writers``)."""
    check_charge_amount(amount, max_charge=max_charge)
    request = idempotency.Keyed(
        user_id=user_id,
        key=idempotency_key,
        fingerprint=idempotency.fingerprint("charge", {"amount": amount}),
        status_code=200,
        adapter=ANSWER,
    )

    async def first() -> Outcome[ChargeResult]:
        charged = await charges.charge(
            repository.Charging(user_id, amount, max_balance, now, request.remember)
        )
        if charged is None:
            async with db.statement() as conn:
                if await repository.balance(conn, user_id=user_id) is None:
                    raise UserNotFound("the token names a user that does not exist")
            raise BalanceLimitExceeded(f"a balance may not pass {max_balance} points")
        return Outcome(charged, 200, replayed=False)

    return await idempotency.or_the_first_answer(first(), db, request)


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
