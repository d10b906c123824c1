"""How a hold is written, chosen once per app (``holds_for``): on SQLite a statement
at a time in a transaction that writes alone, on PostgreSQL one statement shared by
the fans of one turn of the event loop. Either answers what it found and did
(``Held``), and the use case reads the refusal from it the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from boxoffice.queue.model import Sells
from boxoffice.reservations import hold_statement, repository
from boxoffice.reservations.hold_statement import HoldAsk
from boxoffice.reservations.repository import Held
from boxoffice.storage.batcher import Together
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn


class HoldWriter(Protocol):
    async def hold(self, ask: HoldAsk, sells: Sells) -> Held: ...

    async def close(self) -> None: ...


def holds_for(db: Database) -> HoldWriter:
    """The way this database holds a seat."""
    return HoldsInSteps(db) if db.is_sqlite else HoldsInOneStatement(db)


class _Refused(Exception):
    """Raised inside the transaction to roll back what a refused hold wrote."""

    def __init__(self, held: Held) -> None:
        self.held = held


class HoldsInSteps:
    """The fan's live holds and the target read, then, when every guard holds, the
    reservation written under the hold limit and the seat claimed, each guarded in
    its own statement; a reservation whose seat was not claimed is rolled back."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, ask: HoldAsk, sells: Sells) -> Held:
        async def steps(conn: Conn) -> Held:
            holds = await repository.fan_live_holds(conn, user_id=ask.user_id, now=ask.now)
            target = await repository.hold_target(
                conn, schedule_id=ask.schedule_id, seat_id=ask.seat_id, seat_number=ask.seat_number
            )
            refused = Held(holds, target, None)
            if (
                holds is None
                or holds >= ask.max_holds
                or target is None
                or not target.sold_through(sells=sells, now=ask.now)
            ):
                return refused
            assert target.seat_id is not None and target.price is not None
            reservation_id = await repository.add_hold(
                conn,
                user_id=ask.user_id,
                seat_id=target.seat_id,
                price=target.price,
                until=ask.until,
                now=ask.now,
                max_holds=ask.max_holds,
            )
            if reservation_id is None:
                return refused
            if not await repository.claim_seat(
                conn,
                seat_id=target.seat_id,
                reservation_id=reservation_id,
                until=ask.until,
                now=ask.now,
            ):
                raise _Refused(refused)
            return Held(holds, target, reservation_id)

        try:
            return await self._db.run(steps)
        except _Refused as refusal:
            return refusal.held

    async def close(self) -> None:
        """Nothing is left running."""


class HoldsInOneStatement:
    """Holds of distinct fans in the same turn of the event loop, on lines that sell
    the same concerts, are one statement (``hold_statement``); a fan's second hold of
    the moment runs after it, as a statement of one, so their hold limit counts the
    first (``storage.batcher.Together``). A hold lost with its connection may have
    committed: it is not run again (the fan's retry is told the seat is taken, and the
    hold is in their reservations)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[_Asked, int, Held] = Together(
            together=self._statement,
            alone=self._alone,
            who=lambda asked: asked.ask.user_id,
            group=lambda asked: asked.sells.key(),
        )

    async def hold(self, ask: HoldAsk, sells: Sells) -> Held:
        found = await self._together.submit(_Asked(ask, sells))
        assert found is not None, "the statement answers every fan in it"
        return found

    async def _statement(self, asked: list[_Asked]) -> dict[int, Held]:
        sells = asked[0].sells

        async def apply(conn: Conn) -> dict[int, Held]:
            return await hold_statement.hold_each(conn, [a.ask for a in asked], sells=sells)

        return await self._db.run_statement(apply, retry_lost=False)

    async def _alone(self, asked: _Asked) -> Held | None:
        return (await self._statement([asked])).get(asked.ask.user_id)

    async def close(self) -> None:
        """Wait for the holds already sent."""
        await self._together.close()


@dataclass(frozen=True, slots=True)
class _Asked:
    ask: HoldAsk
    sells: Sells
