"""How a charge is written, chosen once per app (``charges_for``): on SQLite the
credit, its ledger entry and the remembered answer a statement at a time in one
transaction, on PostgreSQL one statement shared by the fans of one turn of the event
loop. Either answers the charge made, or None when its guard refused it (nothing
written)."""

from __future__ import annotations

from typing import Protocol

from pydantic import TypeAdapter

from boxoffice.idempotency.repository import remember_answer
from boxoffice.storage.batcher import Together
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict
from boxoffice.storage.query import Conn
from boxoffice.wallet import repository
from boxoffice.wallet.model import ChargeResult, EntryType
from boxoffice.wallet.repository import Charging

ANSWER = TypeAdapter(ChargeResult)


class ChargeWriter(Protocol):
    async def charge(self, charging: Charging) -> ChargeResult | None: ...

    async def close(self) -> None: ...


def charges_for(db: Database) -> ChargeWriter:
    """The way this database charges a wallet."""
    return ChargesInSteps(db) if db.is_sqlite else ChargesInOneStatement(db)


class ChargesInSteps:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def charge(self, charging: Charging) -> ChargeResult | None:
        async def steps(conn: Conn) -> ChargeResult | None:
            c = charging
            balance = await repository.credit(
                conn, user_id=c.user_id, amount=c.amount, ceiling=c.ceiling
            )
            if balance is None:
                return None
            entry_id = await repository.add_entry(
                conn,
                user_id=c.user_id,
                entry_type=EntryType.CHARGE,
                amount=c.amount,
                balance_after=balance,
                reservation_id=None,
                now=c.now,
            )
            charged = ChargeResult(c.user_id, balance, c.amount, entry_id)
            if c.remember is not None:
                body = ANSWER.dump_json(charged).decode()
                await remember_answer(conn, c.remember, user_id=c.user_id, body=body, now=c.now)
            return charged

        return await self._db.run(steps)

    async def close(self) -> None:
        """Nothing is left running."""


class ChargesInOneStatement:
    """Charges of distinct fans in the same turn of the event loop are one statement
    (``repository.charge_each``), each under its own guards; a fan's second charge
    of the moment runs after it, as a statement of one (``storage.batcher.Together``).
    The only refusal that fails the statement rather than one fan's row is a key
    already remembered (a retry whose first attempt landed, or two first attempts
    racing): then each charge runs alone. A statement whose connection was lost is
    run again only when every charge in it has a key: had it committed, the rerun
    finds its keys and replays."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[Charging, int, ChargeResult] = Together(
            together=self._statement,
            alone=self._alone,
            who=lambda charge: charge.user_id,
            unchanged=(Conflict,),
        )

    async def charge(self, charging: Charging) -> ChargeResult | None:
        return await self._together.submit(charging)

    async def _statement(self, charges: list[Charging]) -> dict[int, ChargeResult]:
        amounts = {c.user_id: c.amount for c in charges}

        async def apply(conn: Conn) -> dict[int, tuple[int, int]]:
            return await repository.charge_each(conn, charges)

        keyed = all(each.remember is not None for each in charges)
        charged = await self._db.run_statement(apply, retry_lost=keyed)
        return {
            user: ChargeResult(user, balance, amounts[user], entry_id)
            for user, (balance, entry_id) in charged.items()
        }

    async def _alone(self, charging: Charging) -> ChargeResult | None:
        return (await self._statement([charging])).get(charging.user_id)

    async def close(self) -> None:
        """Wait for the charges already sent."""
        await self._together.close()
