"""Holds of the same moment on PostgreSQL: distinct fans' holds are one statement,
each under every guard a hold alone has, and each fan is answered as if alone."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from boxoffice.errors import (
    HoldLimitReached,
    NotAdmitted,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    UserNotFound,
)
from boxoffice.migrations.fan_lock import fan_live_holds
from boxoffice.queue.model import Sells
from boxoffice.reservations import repository
from boxoffice.reservations import service as reservations
from boxoffice.reservations.hold_statement import HoldAsk, hold_each
from boxoffice.reservations.model import Reservation
from boxoffice.reservations.writers import HoldsInOneStatement
from boxoffice.storage.db import Database
from tests.service.factories import (
    ANY_CONCERT,
    HOLD_FOR,
    NOW,
    Deadlocks,
    SentStatements,
    Show,
    assert_consistent,
    make_fan,
    make_show,
)


async def _hold(
    db: Database,
    together: HoldsInOneStatement,
    fan: int,
    show: Show,
    *,
    number: int | None = None,
    seat_id: int | None = None,
    schedule_id: int | None = None,
    max_holds: int = 4,
    sells: Sells = ANY_CONCERT,
) -> Reservation:
    return await reservations.hold_seat(
        holds=together,
        user_id=fan,
        schedule_id=show.schedule_id if schedule_id is None else schedule_id,
        seat_id=seat_id,
        seat_number=number,
        now=NOW,
        hold_for=HOLD_FOR,
        max_holds=max_holds,
        sells=sells,
    )


async def _warm(db: Database, together: HoldsInOneStatement) -> None:
    """asyncpg learns the statement's array types on a connection's first use of it."""
    show = await make_show(db, seats=2)
    a, b = await make_fan(db), await make_fan(db)
    await asyncio.gather(
        _hold(db, together, a, show, number=1), _hold(db, together, b, show, number=2)
    )


async def test_distinct_fans_holding_at_once_are_one_statement_each_their_own_seat(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = HoldsInOneStatement(pg)
    await _warm(pg, together)
    show = await make_show(pg, seats=8, price=7_000)
    fans = [await make_fan(pg) for _ in range(6)]
    sent = SentStatements(monkeypatch)
    held = await asyncio.gather(
        *(_hold(pg, together, fan, show, number=n + 1) for n, fan in enumerate(fans[:5])),
        _hold(pg, together, fans[5], show, seat_id=show.seat_id(8)),
    )
    [statement] = sent.statements
    assert "boxoffice_fan_live_holds" in statement and "INSERT INTO reservations" in statement
    assert [(h.user_id, h.seat_number, h.price) for h in held] == [
        *((fan, n + 1, 7_000) for n, fan in enumerate(fans[:5])),
        (fans[5], 8, 7_000),
    ]
    assert len({h.reservation_id for h in held}) == 6
    assert all(h.held_until == NOW + HOLD_FOR for h in held)
    await together.close()
    await assert_consistent(pg)


async def test_fans_asking_for_one_seat_at_once_one_holds_it(pg: Database) -> None:
    together = HoldsInOneStatement(pg)
    show = await make_show(pg, seats=3)
    fans = [await make_fan(pg) for _ in range(8)]
    answers = await asyncio.gather(
        *(_hold(pg, together, fan, show, number=2) for fan in fans), return_exceptions=True
    )
    won = [a for a in answers if isinstance(a, Reservation)]
    assert len(won) == 1 and won[0].seat_number == 2
    assert all(isinstance(a, SeatUnavailable) for a in answers if a is not won[0])
    await together.close()
    await assert_consistent(pg)


async def test_refusals_in_a_shared_statement_are_each_fans_own(pg: Database) -> None:
    together = HoldsInOneStatement(pg)
    show, other_show = await make_show(pg, seats=5), await make_show(pg, seats=2)
    fans = [await make_fan(pg) for _ in range(6)]
    await _hold(pg, together, fans[1], show, number=5, max_holds=1)
    answers = await asyncio.gather(
        _hold(pg, together, fans[0], show, number=1),
        _hold(pg, together, fans[1], show, number=2, max_holds=1),
        _hold(pg, together, fans[2], show, number=99),
        _hold(pg, together, fans[3], show, number=1, schedule_id=10**9),
        _hold(pg, together, 10**9, show, number=3),
        _hold(pg, together, fans[4], show, seat_id=other_show.seat_id(1)),
        _hold(pg, together, fans[5], show, number=4, sells=Sells(other_show.concert_id)),
        return_exceptions=True,
    )
    assert isinstance(answers[0], Reservation) and answers[0].seat_number == 1
    assert isinstance(answers[1], HoldLimitReached)
    assert isinstance(answers[2], SeatNotFound)
    assert isinstance(answers[3], ScheduleNotFound)
    assert isinstance(answers[4], UserNotFound)
    assert isinstance(answers[5], SeatNotFound)  # a seat of another schedule
    assert isinstance(answers[6], NotAdmitted)  # this fan's line sells another concert
    await together.close()
    await assert_consistent(pg)


async def test_a_fans_holds_of_one_moment_stop_at_their_limit(pg: Database) -> None:
    together = HoldsInOneStatement(pg)
    show = await make_show(pg, seats=12)
    fan, others = await make_fan(pg), [await make_fan(pg) for _ in range(3)]
    answers = await asyncio.gather(
        *(_hold(pg, together, fan, show, number=n + 1, max_holds=2) for n in range(6)),
        *(_hold(pg, together, o, show, number=10 + n, max_holds=2) for n, o in enumerate(others)),
        return_exceptions=True,
    )
    mine = answers[:6]
    assert sum(isinstance(a, Reservation) for a in mine) == 2
    assert all(isinstance(a, HoldLimitReached) for a in mine if not isinstance(a, Reservation))
    assert all(isinstance(a, Reservation) for a in answers[6:])
    await together.close()
    await assert_consistent(pg)


async def test_control_one_statement_given_a_fan_twice_passes_their_limit(pg: Database) -> None:
    """Why a fan's second hold of a moment runs apart: both of their rows in one
    statement count the holds committed before it, so both pass a limit of one."""
    show = await make_show(pg, seats=3)
    fan = await make_fan(pg)
    asks = [HoldAsk(fan, show.schedule_id, None, n, NOW + HOLD_FOR, NOW, 1) for n in (1, 2)]
    async with pg.statement() as conn:
        await hold_each(conn, asks, sells=ANY_CONCERT)
        assert await repository.count_live_holds(conn, user_id=fan, now=NOW) == 2


# A hall large enough that a statement finds its seats by index, in its own order.
MANY_SEATS = 2_000


async def _opposite_orders(db: Database, show: Show, first: int) -> None:
    """Two instances' shared statements asking for the same twelve seats (from
    ``first`` on) in opposite orders: every seat held once, whatever else happened."""
    numbers = list(range(first, first + 12))
    fans = [await make_fan(db) for _ in range(24)]
    one, two = HoldsInOneStatement(db), HoldsInOneStatement(db)
    answers = await asyncio.gather(
        *(_hold(db, one, fan, show, number=n) for n, fan in zip(numbers, fans[:12], strict=True)),
        *(
            _hold(db, two, fan, show, number=n)
            for n, fan in zip(numbers[::-1], fans[12:], strict=True)
        ),
        return_exceptions=True,
    )
    held = [a for a in answers if isinstance(a, Reservation)]
    assert sorted(h.seat_number for h in held) == numbers
    assert all(isinstance(a, SeatUnavailable) for a in answers if a not in held)


async def test_shared_holds_meeting_on_the_same_seats_do_not_deadlock(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shared statement locks its fans, then its seats, in the order of their ids.
    (No control: at this scale PostgreSQL's plans happened to reach the seats in the
    order of their ids even without the ordered lock, so no deadlock could be shown;
    the lock makes that order a rule rather than a plan's choice.)"""
    show = await make_show(pg, seats=MANY_SEATS)
    deadlocks = Deadlocks(monkeypatch)
    for round_ in range(10):
        await _opposite_orders(pg, show, first=1 + 12 * round_)
    assert deadlocks.count == 0
    await assert_consistent(pg)


async def test_the_fan_lock_counts_with_the_one_live_hold_rule(postgres_url: str) -> None:
    """The function a shared hold calls to lock its fan counts with
    ``live_holds_of`` compiled in, not a copy of the rule: the body installed is the
    one ``fan_lock`` builds from it today (a rule changed since would fail here, and
    need a migration that installs it again)."""
    conn = await asyncpg.connect(postgres_url)
    try:
        installed = await conn.fetchval(
            "SELECT prosrc FROM pg_proc WHERE proname = 'boxoffice_fan_live_holds'"
        )
    finally:
        await conn.close()
    built = fan_live_holds("NO KEY UPDATE")
    body = built[built.index("$$") + 2 : built.rindex("$$")]
    assert " ".join(installed.split()) == " ".join(body.split())
    assert "held.held_until > at" in installed  # live_hold, as compiled
