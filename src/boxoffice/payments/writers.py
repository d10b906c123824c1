"""How a sale is written, chosen once per app (``sales_for``): on SQLite its guards
read and then each write made, a statement at a time in one transaction that also
remembers the answer; on PostgreSQL one statement shared by the fans of one turn of
the event loop. Either answers what it found and did (``Sale``; None when the fan has
no such reservation), and the use case reads the refusal from it the same way."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pydantic import TypeAdapter

from boxoffice.idempotency.repository import remember_answer
from boxoffice.payments import repository, sale_statement
from boxoffice.payments.model import OrderPaymentResult, PaymentResult
from boxoffice.payments.repository import Sale, Selling
from boxoffice.payments.sale_statement import CHANGED_UNDER_IT
from boxoffice.queue.model import Sells
from boxoffice.storage.batcher import Together
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict, Transient
from boxoffice.storage.query import Conn
from boxoffice.wallet import repository as wallet
from boxoffice.wallet.model import EntryType

ANSWER = TypeAdapter(PaymentResult)
ORDER_ANSWER = TypeAdapter(OrderPaymentResult)


class SaleWriter(Protocol):
    async def sell(self, selling: Selling, sells: Sells) -> Sale | None: ...

    async def close(self) -> None: ...


def sales_for(db: Database) -> SaleWriter:
    """The way this database sells a held seat."""
    return SalesInSteps(db) if db.is_sqlite else SalesInOneStatement(db)


class SalesInSteps:
    """The guards read, then, when all hold, the hold confirmed, the seat sold, the
    wallet debited, the ledger entry, the payment and the remembered answer written,
    each write keeping its own guard; one that finds its guard gone rolls the whole
    sale back to be run again."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sell(self, selling: Selling, sells: Sells) -> Sale | None:
        async def steps(conn: Conn) -> Sale | None:
            found = await repository.check(conn, selling, sells=False)
            if found is None:
                return None
            sale = replace(found, sells=found.concert_id in sells)
            if not sale.may_go:
                return sale
            return await self._write(conn, selling, sale)

        return await self._db.run(steps)

    async def _write(self, conn: Conn, selling: Selling, sale: Sale) -> Sale:
        user, reservation, now = selling.user_id, selling.reservation_id, selling.now
        if not await repository.confirm(conn, selling) or not await repository.sell_seat(
            conn, seat_id=sale.seat_id, reservation_id=reservation, now=now
        ):
            raise Transient(CHANGED_UNDER_IT)
        balance = await wallet.debit(conn, user_id=user, amount=sale.price)
        if balance is None:
            raise Transient(CHANGED_UNDER_IT)
        await wallet.add_entry(
            conn,
            user_id=user,
            entry_type=EntryType.PAYMENT,
            amount=sale.price,
            balance_after=balance,
            reservation_id=reservation,
            now=now,
        )
        payment_id = await repository.add_payment(conn, selling, amount=sale.price)
        paid = replace(sale, balance=balance, payment_id=payment_id)
        answer = paid.paid(selling)
        if selling.remember is not None and answer is not None:
            body = ANSWER.dump_json(answer).decode()
            await remember_answer(conn, selling.remember, user_id=user, body=body, now=now)
        return paid

    async def close(self) -> None:
        """Nothing is left running."""


class SalesInOneStatement:
    """Payments of distinct fans in the same turn of the event loop, on lines that
    sell the same concerts, are one statement (``sale_statement``); a fan's second
    payment of the moment runs after it, as a statement of one, so it reads the
    balance the first left (``storage.batcher.Together``). A key already remembered
    fails the statement whole, as does a sale begun but not finished once its retries
    are spent: then each payment runs alone, to be answered as it would have been. A
    fan whose hold changed between the statement's snapshot and its write is sold
    again alone. A statement whose connection was lost is run again only when every
    payment in it has a key: had it committed, the rerun finds its keys and replays."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[_Asked, int, Sale] = Together(
            together=self._statement,
            alone=self._alone,
            who=lambda asked: asked.selling.user_id,
            group=lambda asked: asked.sells.key(),
            unchanged=(Conflict, Transient),
        )

    async def sell(self, selling: Selling, sells: Sells) -> Sale | None:
        sale = await self._together.submit(_Asked(selling, sells))
        if sale is not None and sale.changed_under_it:
            return await self._alone(_Asked(selling, sells))
        return sale

    async def _statement(self, asked: list[_Asked], *, again: bool = False) -> dict[int, Sale]:
        sells = asked[0].sells

        async def apply(conn: Conn) -> dict[int, Sale]:
            sold = await sale_statement.sell_each(conn, [a.selling for a in asked], sells=sells)
            if again and any(sale.changed_under_it for sale in sold.values()):
                raise Transient(CHANGED_UNDER_IT)  # nothing written for it: again
            return sold

        keyed = all(a.selling.remember is not None for a in asked)
        return await self._db.run_statement(apply, retry_lost=keyed)

    async def _alone(self, asked: _Asked) -> Sale | None:
        """The sale as a statement of one, run again while its hold changes under it."""
        return (await self._statement([asked], again=True)).get(asked.selling.user_id)

    async def close(self) -> None:
        """Wait for the payments already sent."""
        await self._together.close()


@dataclass(frozen=True, slots=True)
class _Asked:
    selling: Selling
    sells: Sells
