"""A show cancelled while its fans buy, on PostgreSQL: the cancel locks what it writes
in the order a sale locks it (holds and sales, then seats, then wallets by fan), so
the two wait for each other instead of deadlocking. Each meeting is made by hand: a
session takes a sale's locks one table at a time, the cancel starts between two of
them, and the session then takes the next. Each control cancels in the order the
cancel had before, and the same meeting deadlocks.

A hold that comes while the show is being cancelled waits for the cancel (on the
show's row) and is then refused; its control, the same hold without that lock, lands
on the cancelled show."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import pytest

from boxoffice.catalog import service as catalog
from boxoffice.errors import ScheduleNotFound
from boxoffice.refunds import service as refunds
from boxoffice.reservations import hold_statement, refund_repository
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.writers import HoldsInOneStatement
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn, Query
from tests.service.factories import (
    NOW,
    Deadlocks,
    Show,
    assert_consistent,
    balance_of,
    buy,
    hold,
    make_fan,
    make_show,
    until_waiting_for_a_lock,
)

PRICE = 4_000

Cancel = Callable[[Database, Show], Awaitable[object]]


async def _cancel(db: Database, show: Show) -> object:
    return await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id, now=NOW)


async def _cancel_seats_first(db: Database, show: Show) -> object:
    """The cancel's writes as they were ordered before: the schedule's seats released
    before its holds were cancelled (this show has no sale to refund)."""

    async def work(conn: Conn) -> None:
        await catalog.cancel_schedule(conn, schedule_id=show.schedule_id, now=NOW)
        await conn.execute(refund_repository.RELEASE_SCHEDULE_SEATS, schedule=show.schedule_id)
        await conn.execute(refund_repository.CANCEL_SCHEDULE_HOLDS, schedule=show.schedule_id)

    return await db.run(work)


async def _cancel_locking_seats_as_it_reaches_them(db: Database, show: Show) -> object:
    """The cancel without its ordered lock of the seats: the UPDATE that releases them
    locks them in the order its plan reaches them."""

    async def work(conn: Conn) -> None:
        await catalog.cancel_schedule(conn, schedule_id=show.schedule_id, now=NOW)
        await conn.fetchval(refund_repository.LOCK_SCHEDULE_SALES, schedule=show.schedule_id)
        await conn.execute(refund_repository.CANCEL_SCHEDULE_HOLDS, schedule=show.schedule_id)
        await conn.execute(refund_repository.RELEASE_SCHEDULE_SEATS, schedule=show.schedule_id)

    return await db.run(work)


async def _cancel_crediting_in_ticket_order(db: Database, show: Show) -> object:
    """The cancel as it credited its refunds before: in the order of the tickets."""

    async def work(conn: Conn) -> None:
        await catalog.cancel_schedule(conn, schedule_id=show.schedule_id, now=NOW)
        tickets = await reservations.refund_schedule(conn, schedule_id=show.schedule_id, now=NOW)
        await refunds.give_back(conn, sorted(tickets, key=lambda t: t.reservation_id), NOW)

    return await db.run(work)


async def _meeting(
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    cancel: Awaitable[object],
    *,
    first: tuple[str, int],
    then: tuple[str, int],
) -> int:
    """A session locks the row ``first`` (a table and its key), the cancel starts and
    comes to wait for it, the session locks ``then`` and commits; the cancel is then
    let finish. The deadlocks PostgreSQL broke, on either side."""
    deadlocks = Deadlocks(monkeypatch)
    sale = await asyncpg.connect(postgres_url)
    caught = 0
    try:
        tx = sale.transaction()
        await tx.start()
        await _lock(sale, *first)
        cancelling = asyncio.ensure_future(cancel)
        try:
            await until_waiting_for_a_lock(sale)
            await _lock(sale, *then)
            await tx.commit()
        except asyncpg.DeadlockDetectedError:
            caught = 1
            await tx.rollback()
        except BaseException:
            await sale.close()  # lets the cancel finish before the test fails
            await asyncio.gather(cancelling, return_exceptions=True)
            raise
        await cancelling
    finally:
        await sale.close()
    return deadlocks.count + caught


async def _lock(conn: asyncpg.Connection, table: str, key: int) -> None:
    """The row's lock, as an UPDATE that changes nothing takes it."""
    column = {"reservations": "id", "seats": "id", "wallets": "user_id"}[table]
    await conn.execute(f"UPDATE {table} SET {column} = {column} WHERE {column} = $1", key)


async def _hold_being_sold(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch, cancel: Cancel
) -> tuple[int, Show, int, int]:
    """A fan's hold is being sold (its hold locked, then its seat, as a sale locks
    them) while the show is cancelled. The deadlocks, the show, the fan and the
    hold's id."""
    show = await make_show(pg, seats=2, price=PRICE)
    fan = await make_fan(pg, balance=PRICE)
    held = await hold(pg, user_id=fan, show=show, seat_number=1)
    deadlocks = await _meeting(
        postgres_url,
        monkeypatch,
        cancel(pg, show),
        first=("reservations", held.reservation_id),
        then=("seats", show.seat_id(1)),
    )
    return deadlocks, show, fan, held.reservation_id


async def test_a_cancel_meeting_a_sale_of_its_hold_waits_for_it(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks, _, fan, reservation_id = await _hold_being_sold(
        pg, postgres_url, monkeypatch, _cancel
    )
    assert deadlocks == 0
    mine = await reservations.get_own(db=pg, user_id=fan, reservation_id=reservation_id, now=NOW)
    assert mine.status is ReservationStatus.CANCELLED
    await assert_consistent(pg)


async def test_control_a_cancel_releasing_seats_first_deadlocks_with_the_sale(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks, *_ = await _hold_being_sold(pg, postgres_url, monkeypatch, _cancel_seats_first)
    assert deadlocks >= 1
    await assert_consistent(pg)


async def _wallets_being_debited(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch, cancel: Cancel
) -> tuple[int, tuple[int, int]]:
    """Fans a and b (a's id the lower) hold tickets to the show, b's bought first,
    while a shared payment of theirs for another show locks their wallets in the order
    of their ids as the show is cancelled. The deadlocks, and the two fans."""
    show = await make_show(pg, seats=2, price=PRICE)
    a, b = await make_fan(pg, balance=PRICE), await make_fan(pg, balance=PRICE)
    assert a < b
    await buy(pg, user_id=b, show=show, seat_number=1)
    await buy(pg, user_id=a, show=show, seat_number=2)
    deadlocks = await _meeting(
        postgres_url, monkeypatch, cancel(pg, show), first=("wallets", a), then=("wallets", b)
    )
    return deadlocks, (a, b)


async def test_a_cancel_meeting_a_shared_payment_credits_its_wallets_in_its_order(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks, fans = await _wallets_being_debited(pg, postgres_url, monkeypatch, _cancel)
    assert deadlocks == 0
    assert [await balance_of(pg, user_id=fan) for fan in fans] == [PRICE, PRICE]
    await assert_consistent(pg)


async def test_control_a_cancel_crediting_in_ticket_order_deadlocks_with_the_payment(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks, fans = await _wallets_being_debited(
        pg, postgres_url, monkeypatch, _cancel_crediting_in_ticket_order
    )
    assert deadlocks >= 1
    assert [await balance_of(pg, user_id=fan) for fan in fans] == [PRICE, PRICE]
    await assert_consistent(pg)


async def _seats_being_held(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch, cancel: Cancel
) -> int:
    """A shared hold locks the show's two seats in the order of their ids while the
    show is cancelled. Seat 1's row was rewritten first, so the table holds it after
    seat 2's, and the cancel's sessions read tables in their order (no index scans:
    a plan of a larger table may read them so). The deadlocks."""
    show = await make_show(pg, seats=2, price=PRICE)
    admin = await asyncpg.connect(postgres_url)
    try:
        await _lock(admin, "seats", show.seat_id(1))
        name = await admin.fetchval("SELECT current_database()")
        for setting in ("enable_indexscan", "enable_bitmapscan"):
            await admin.execute(f"ALTER DATABASE {name} SET {setting} = off")
    finally:
        await admin.close()
    cancelling = Database(postgres_url)  # its sessions start with those settings
    try:
        return await _meeting(
            postgres_url,
            monkeypatch,
            cancel(cancelling, show),
            first=("seats", show.seat_id(1)),
            then=("seats", show.seat_id(2)),
        )
    finally:
        await cancelling.dispose()


async def test_a_cancel_meeting_a_shared_hold_locks_the_seats_in_its_order(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _seats_being_held(pg, postgres_url, monkeypatch, _cancel) == 0
    await assert_consistent(pg)


async def test_control_a_cancel_locking_seats_in_table_order_deadlocks_with_the_hold(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks = await _seats_being_held(
        pg, postgres_url, monkeypatch, _cancel_locking_seats_as_it_reaches_them
    )
    assert deadlocks >= 1
    await assert_consistent(pg)


SHOW_LOCK_SQL = " FOR KEY SHARE OF schedules"  # what repository.show_locked adds


class _WithoutShowLock(Query):
    """A hold statement as it was before it locked its show's row."""

    __slots__ = ()

    def for_postgres(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        sql, args = super().for_postgres(params)
        assert SHOW_LOCK_SQL in sql
        return sql.replace(SHOW_LOCK_SQL, ""), args


def _without_show_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    statement = hold_statement.HOLD_EACH.statement
    monkeypatch.setattr(
        hold_statement, "HOLD_EACH", _WithoutShowLock(statement, postgres_only=True)
    )


async def _holds_while_cancelling(
    pg: Database, postgres_url: str, *, fans: int
) -> tuple[Show, list[Reservation | BaseException]]:
    """``fans`` fans (two or more: one shared statement) each ask for a seat of a
    show while it is being cancelled: the cancel has marked the show, cancelled its
    holds and released its seats, but has not committed. What each hold answered once
    it did."""
    show = await make_show(pg, seats=fans, price=PRICE)
    asking = [await make_fan(pg, balance=PRICE) for _ in range(fans)]
    together = HoldsInOneStatement(pg)
    watcher = await asyncpg.connect(postgres_url)
    try:
        async with pg.transaction() as conn:
            await catalog.cancel_schedule(conn, schedule_id=show.schedule_id, now=NOW)
            await reservations.refund_schedule(conn, schedule_id=show.schedule_id, now=NOW)
            holding = asyncio.gather(
                *(
                    hold(pg, user_id=fan, show=show, seat_number=n, holds=together)
                    for n, fan in enumerate(asking, start=1)
                ),
                return_exceptions=True,
            )
            await until_waiting_for_a_lock(watcher)
        answers = await holding
    finally:
        await watcher.close()
        await together.close()
    return show, answers


@pytest.mark.parametrize("fans", [1, 2], ids=["alone", "shared"])
async def test_a_hold_while_the_show_is_cancelled_waits_and_is_refused(
    pg: Database, postgres_url: str, fans: int
) -> None:
    show, answers = await _holds_while_cancelling(pg, postgres_url, fans=fans)
    assert all(isinstance(answer, ScheduleNotFound) for answer in answers), answers
    assert await _reservations_of(postgres_url, show) == 0
    await assert_consistent(pg)


@pytest.mark.parametrize("fans", [1, 2], ids=["alone", "shared"])
async def test_control_a_hold_without_the_show_lock_lands_on_the_cancelled_show(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch, fans: int
) -> None:
    _without_show_lock(monkeypatch)
    show, answers = await _holds_while_cancelling(pg, postgres_url, fans=fans)
    assert all(isinstance(answer, Reservation) for answer in answers), answers
    assert await _reservations_of(postgres_url, show) == fans


async def _reservations_of(postgres_url: str, show: Show) -> int:
    """Reservations of any state on the show's seats (a cancelled show has no seat map)."""
    conn = await asyncpg.connect(postgres_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM reservations WHERE seat_id = ANY($1::bigint[])",
            list(show.seat_ids),
        )
    finally:
        await conn.close()
    return count
