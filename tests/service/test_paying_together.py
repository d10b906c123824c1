"""Payments of the same moment on PostgreSQL: distinct fans' payments are one
statement, each under every guard a payment alone has, and each fan is answered as if
their payment had run alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import pytest

from boxoffice.errors import (
    AlreadyPaid,
    HoldExpired,
    InsufficientBalance,
    ReservationNotFound,
    SeatUnavailable,
)
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import sale_statement
from boxoffice.payments.model import PaymentResult
from boxoffice.payments.repository import Sale, Selling
from boxoffice.payments.service import checkout
from boxoffice.payments.writers import SalesInOneStatement
from boxoffice.queue.model import Sells
from boxoffice.queue.service import WaitingRoom
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import Reservation
from boxoffice.reservations.writers import HoldsInOneStatement
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Transient, from_driver
from boxoffice.storage.query import Conn
from boxoffice.tokens import QueueClaims
from tests.service.factories import (
    ANY_CONCERT,
    HOLD_FOR,
    NOW,
    TICK,
    Deadlocks,
    SentStatements,
    Show,
    admit,
    assert_consistent,
    balance_of,
    hold,
    ledger,
    make_fan,
    make_show,
    until_waiting_for_a_lock,
    waiting_room,
)

PRICE = 4_000


class _Visits:
    """Admitted fans of one waiting room, each with their queue token's claims."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.room: WaitingRoom = waiting_room(db, lambda: NOW)
        self._claims: dict[int, QueueClaims] = {}

    async def fan(self, *, balance: int) -> int:
        fan = await make_fan(self.db, balance=balance)
        self._claims[fan] = await admit(self.room, user_id=fan, now=NOW)
        return fan

    async def pay(
        self,
        together: SalesInOneStatement,
        fan: int,
        reservation_id: int,
        *,
        key: str | None = None,
        now: datetime = NOW,
    ) -> Outcome[PaymentResult]:
        return await checkout(
            db=self.db,
            sales=together,
            waiting_room=self.room,
            claims=self._claims[fan],
            reservation_id=reservation_id,
            idempotency_key=key,
            now=now,
        )


class _SaleStatements:
    """The fans of each sale statement run, in the order they ran (a fan alone is the
    same statement with one row)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fans: list[list[int]] = []
        sell_each = sale_statement.sell_each

        async def recording(
            conn: Conn, sales: Sequence[Selling], *, sells: Sells
        ) -> dict[int, Sale]:
            self.fans.append([sale.user_id for sale in sales])
            return await sell_each(conn, sales, sells=sells)

        monkeypatch.setattr(sale_statement, "sell_each", recording)


async def _held(db: Database, fan: int, show: Show, number: int) -> int:
    return (await hold(db, user_id=fan, show=show, seat_number=number)).reservation_id


async def _warm(visits: _Visits, together: SalesInOneStatement) -> None:
    """asyncpg learns the statement's array types on a connection's first use of it."""
    show = await make_show(visits.db, seats=2, price=PRICE)
    a, b = await visits.fan(balance=PRICE), await visits.fan(balance=PRICE)
    ra, rb = await _held(visits.db, a, show, 1), await _held(visits.db, b, show, 2)
    await asyncio.gather(visits.pay(together, a, ra), visits.pay(together, b, rb))


async def test_distinct_fans_paying_at_once_are_one_statement_each_answered_alone(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    await _warm(visits, together)
    show = await make_show(pg, seats=6, price=PRICE)
    fans = [await visits.fan(balance=PRICE + 100 * n) for n in range(6)]
    held = [await _held(pg, fan, show, n + 1) for n, fan in enumerate(fans)]
    sent = SentStatements(monkeypatch)
    outcomes = await asyncio.gather(
        *(
            visits.pay(together, fan, rid, key=f"k{n}")
            for n, (fan, rid) in enumerate(zip(fans, held, strict=True))
        )
    )
    sell = [s for s in sent.statements if "INSERT INTO payments" in s]
    assert len(sell) == 1 and "unnest" in sell[0]
    assert sent.transactions == 0
    for n, (fan, rid, outcome) in enumerate(zip(fans, held, outcomes, strict=True)):
        paid = outcome.value
        assert not outcome.replayed
        assert (paid.user_id, paid.reservation_id, paid.amount) == (fan, rid, PRICE)
        assert (paid.balance, paid.concert_id, paid.paid_at) == (100 * n, show.concert_id, NOW)
        assert await balance_of(pg, user_id=fan) == 100 * n
        assert await ledger(pg, user_id=fan) == [("PAYMENT", -PRICE), ("CHARGE", PRICE + 100 * n)]
    assert len({o.value.payment_id for o in outcomes}) == 6
    # Each key remembered its own answer: a retry is answered with it.
    again = await visits.pay(together, fans[3], held[3], key="k3")
    assert again.replayed and again.value == outcomes[3].value
    await together.close()
    await assert_consistent(pg)


async def test_refusals_in_a_shared_statement_are_each_fans_own(pg: Database) -> None:
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=6, price=PRICE)
    rich, stranger, other, late, thief = [await visits.fan(balance=PRICE) for _ in range(5)]
    poor, twice = await visits.fan(balance=PRICE - 1), await visits.fan(balance=PRICE)
    rich_hold = await _held(pg, rich, show, 1)
    poor_hold = await _held(pg, poor, show, 2)
    late_hold = await _held(pg, late, show, 3)
    paid_hold = await _held(pg, twice, show, 4)
    await _held(pg, twice, show, 5)  # a hold still live keeps their visit
    await visits.pay(together, twice, paid_hold)
    answers = await asyncio.gather(
        visits.pay(together, rich, rich_hold),
        visits.pay(together, poor, poor_hold),
        visits.pay(together, stranger, rich_hold + 10**6),  # no such reservation
        visits.pay(together, other, late_hold),  # someone else's hold
        visits.pay(together, late, late_hold, now=NOW + HOLD_FOR + TICK),  # lapsed
        visits.pay(together, twice, paid_hold),
        visits.pay(together, thief, rich_hold),  # the hold its owner pays for at once
        return_exceptions=True,
    )
    assert isinstance(answers[0], Outcome) and answers[0].value.balance == 0
    assert isinstance(answers[1], InsufficientBalance)
    assert isinstance(answers[2], ReservationNotFound)
    assert isinstance(answers[3], ReservationNotFound)
    assert isinstance(answers[4], HoldExpired)
    assert isinstance(answers[5], AlreadyPaid)
    assert isinstance(answers[6], ReservationNotFound)
    assert await balance_of(pg, user_id=thief) == PRICE
    assert await balance_of(pg, user_id=poor) == PRICE - 1
    assert await balance_of(pg, user_id=other) == PRICE
    assert await balance_of(pg, user_id=late) == PRICE
    assert await balance_of(pg, user_id=twice) == 0
    await together.close()
    await assert_consistent(pg)


async def test_a_fans_payments_of_one_moment_spend_their_money_once(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    await _warm(visits, together)
    show = await make_show(pg, seats=8, price=PRICE)
    fan = await visits.fan(balance=PRICE)  # money for one of their holds
    others = [await visits.fan(balance=PRICE) for _ in range(3)]
    mine = [await _held(pg, fan, show, n + 1) for n in range(4)]
    theirs = [await _held(pg, o, show, 5 + n) for n, o in enumerate(others)]
    statements = _SaleStatements(monkeypatch)
    answers = await asyncio.gather(
        *(visits.pay(together, fan, rid) for rid in mine),
        *(visits.pay(together, o, rid) for o, rid in zip(others, theirs, strict=True)),
        return_exceptions=True,
    )
    assert sum(isinstance(a, Outcome) for a in answers[:4]) == 1
    refused = [a for a in answers[:4] if not isinstance(a, Outcome)]
    assert all(isinstance(a, InsufficientBalance) for a in refused)
    assert all(isinstance(a, Outcome) for a in answers[4:])
    # One shared statement, not run again: the fan's other payments ran alone.
    assert statements.fans == [[fan, *others], [fan], [fan], [fan]]
    assert await balance_of(pg, user_id=fan) == 0
    await together.close()
    await assert_consistent(pg)


async def test_a_key_already_remembered_sends_each_payment_back_alone(pg: Database) -> None:
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=4, price=PRICE)
    fans = [await visits.fan(balance=PRICE) for _ in range(3)]
    held = [await _held(pg, fan, show, n + 1) for n, fan in enumerate(fans)]
    first = await visits.pay(together, fans[0], held[0], key="again")
    answers = await asyncio.gather(
        visits.pay(together, fans[0], held[0], key="again"),
        visits.pay(together, fans[1], held[1], key="one"),
        visits.pay(together, fans[2], held[2]),
    )
    assert answers[0].replayed and answers[0].value == first.value
    assert [a.replayed for a in answers[1:]] == [False, False]
    assert [await balance_of(pg, user_id=fan) for fan in fans] == [0, 0, 0]
    await together.close()
    await assert_consistent(pg)


async def test_a_hold_released_before_its_shared_payment_is_refused_and_nothing_written(
    pg: Database,
) -> None:
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=3, price=PRICE)
    a, b = await visits.fan(balance=PRICE), await visits.fan(balance=PRICE)
    ra, rb = await _held(pg, a, show, 1), await _held(pg, b, show, 2)
    await reservations.release(db=pg, user_id=b, reservation_id=rb, now=NOW)
    answers = await asyncio.gather(
        visits.pay(together, a, ra), visits.pay(together, b, rb), return_exceptions=True
    )
    assert isinstance(answers[0], Outcome) and isinstance(answers[1], HoldExpired)
    assert await balance_of(pg, user_id=b) == PRICE
    await together.close()
    await assert_consistent(pg)


async def test_a_hold_released_while_its_shared_payment_waits_is_sold_again_alone(
    pg: Database, postgres_url: str
) -> None:
    """The shared statement reads fan b's hold live, then waits for its row, which a
    release holds; when the release commits, the hold is no longer b's to confirm,
    so the statement writes nothing for b. b's payment is then run alone, and
    refused as it would have been; a's is made."""
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=3, price=PRICE)
    a, b = await visits.fan(balance=PRICE), await visits.fan(balance=PRICE)
    ra, rb = await _held(pg, a, show, 1), await _held(pg, b, show, 2)
    await _held(pg, b, show, 3)  # a hold still live keeps b's visit
    releasing = await asyncpg.connect(postgres_url)
    try:
        release = releasing.transaction()
        await release.start()
        await releasing.execute("SELECT id FROM reservations WHERE id = $1 FOR UPDATE", rb)
        paying = asyncio.gather(
            visits.pay(together, a, ra), visits.pay(together, b, rb), return_exceptions=True
        )
        await until_waiting_for_a_lock(releasing)
        await releasing.execute("UPDATE reservations SET status = 'CANCELLED' WHERE id = $1", rb)
        await releasing.execute(
            "UPDATE seats SET hold_reservation_id = NULL, held_until = NULL"
            " WHERE hold_reservation_id = $1",
            rb,
        )
        await release.commit()
        answers = await paying
    finally:
        await releasing.close()
    assert isinstance(answers[0], Outcome) and isinstance(answers[1], HoldExpired)
    assert await balance_of(pg, user_id=b) == PRICE
    await together.close()
    await assert_consistent(pg)


async def test_a_seat_lost_while_its_shared_payment_waits_rolls_back_the_statement(
    pg: Database, postgres_url: str
) -> None:
    """The shared statement confirms both holds and waits for fan b's seat, which
    another session holds; when that session takes b's hold off the seat, b's sale
    cannot finish, so the statement rolls itself back whole and is run again: a is
    paid, b is refused as alone, and b's hold is left as it was."""
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=3, price=PRICE)
    a, b = await visits.fan(balance=PRICE), await visits.fan(balance=PRICE)
    ra, rb = await _held(pg, a, show, 1), await _held(pg, b, show, 2)
    await _held(pg, b, show, 3)  # a hold still live keeps b's visit
    seat = await asyncpg.connect(postgres_url)
    try:
        taking = seat.transaction()
        await taking.start()
        await seat.execute("SELECT 1 FROM seats WHERE id = $1 FOR UPDATE", show.seat_id(2))
        paying = asyncio.gather(
            visits.pay(together, a, ra), visits.pay(together, b, rb), return_exceptions=True
        )
        await until_waiting_for_a_lock(seat)
        await seat.execute(
            "UPDATE seats SET hold_reservation_id = NULL, held_until = NULL WHERE id = $1",
            show.seat_id(2),
        )
        await taking.commit()
        answers = await paying
    finally:
        await seat.close()
    assert isinstance(answers[0], Outcome) and isinstance(answers[1], HoldExpired)
    assert await balance_of(pg, user_id=a) == 0
    assert await balance_of(pg, user_id=b) == PRICE
    mine = await reservations.get_own(db=pg, user_id=b, reservation_id=rb, now=NOW)
    assert mine.status.value == "HELD"
    await together.close()
    await assert_consistent(pg)


async def test_control_one_statement_given_a_fan_twice_cannot_finish(pg: Database) -> None:
    """Why a fan's second payment of a moment runs apart: both of their rows in one
    statement pass the balance read in its snapshot, both holds are confirmed, but
    their wallet's row is debited once, so the sale is begun and not finished, and
    the statement rolls itself back every time it runs."""
    show = await make_show(pg, seats=2, price=PRICE)
    fan = await make_fan(pg, balance=2 * PRICE)
    held = [await _held(pg, fan, show, n) for n in (1, 2)]
    sales = [Selling(rid, fan, NOW, None) for rid in held]
    async with pg.statement() as conn:
        with pytest.raises(Exception) as raised:
            await sale_statement.sell_each(conn, sales, sells=ANY_CONCERT)
    assert isinstance(from_driver(raised.value), Transient)
    assert await balance_of(pg, user_id=fan) == 2 * PRICE
    await assert_consistent(pg)


async def test_shared_payments_meeting_on_the_same_wallets_do_not_deadlock(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances' shared statements paying for the same twelve fans' holds (each
    fan has one in each) in opposite orders: every hold paid once, every wallet
    debited twice. Each statement locks the holds, the seats and then the wallets,
    each in the order of their ids. (No control: PostgreSQL's plans happened to reach
    the rows in the order of their ids even without the ordered locks, so no deadlock
    could be shown; the locks make that order a rule rather than a plan's choice.)"""
    visits = _Visits(pg)
    show = await make_show(pg, seats=24 * 10, price=PRICE)
    deadlocks = Deadlocks(monkeypatch)
    for round_ in range(10):
        fans = [await visits.fan(balance=2 * PRICE) for _ in range(12)]
        first = 1 + 24 * round_
        ones = [await _held(pg, fan, show, first + n) for n, fan in enumerate(fans)]
        twos = [await _held(pg, fan, show, first + 12 + n) for n, fan in enumerate(fans)]
        one, two = SalesInOneStatement(pg), SalesInOneStatement(pg)
        answers = await asyncio.gather(
            *(visits.pay(one, fan, rid) for fan, rid in zip(fans, ones, strict=True)),
            *(visits.pay(two, fan, rid) for fan, rid in zip(fans[::-1], twos[::-1], strict=True)),
        )
        assert all(not a.replayed for a in answers)
        assert [await balance_of(pg, user_id=fan) for fan in fans] == [0] * 12
    assert deadlocks.count == 0
    await assert_consistent(pg)


async def _payment_meeting_a_hold_on_its_seat(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch, *, hold_lock: str | None
) -> tuple[int, list[object]]:
    """Fans u and v pay at once (one shared statement) while fan u's hold, shared
    with fan w's, asks for the seat v is buying. A third session keeps v's wallet
    locked until the payment has locked both seats and the hold has locked u and
    waits for v's seat; then lets go. The hold is boxoffice's own, or with
    ``hold_lock`` a session that locks u's row that strongly and then waits for the
    seat. The deadlocks PostgreSQL broke, and the answers: u's and v's payments,
    then the hold's."""
    visits, together = _Visits(pg), SalesInOneStatement(pg)
    show = await make_show(pg, seats=3, price=PRICE)
    u, v = await visits.fan(balance=PRICE), await visits.fan(balance=PRICE)
    w = await make_fan(pg)
    ru, rv = await _held(pg, u, show, 1), await _held(pg, v, show, 2)
    deadlocks = Deadlocks(monkeypatch)
    wallet, holder = await asyncpg.connect(postgres_url), await asyncpg.connect(postgres_url)
    try:
        keep = wallet.transaction()
        await keep.start()
        await wallet.execute("SELECT 1 FROM wallets WHERE user_id = $1 FOR UPDATE", v)
        paying = asyncio.gather(
            visits.pay(together, u, ru), visits.pay(together, v, rv), return_exceptions=True
        )
        await until_waiting_for_a_lock(wallet, sessions=1)
        if hold_lock is None:  # shared with another fan's: it locks the seats it asks for
            holds = HoldsInOneStatement(pg)
            holding: asyncio.Future[object] = asyncio.ensure_future(
                hold(pg, user_id=u, show=show, seat_number=2, holds=holds)
            )
            also = asyncio.ensure_future(hold(pg, user_id=w, show=show, seat_number=3, holds=holds))
        else:

            async def by_hand() -> object:
                async with holder.transaction():
                    await holder.execute(f"SELECT 1 FROM users WHERE id = $1 FOR {hold_lock}", u)
                    await holder.execute(
                        "UPDATE seats SET held_until = held_until WHERE id = $1", show.seat_id(2)
                    )
                return None

            holding = asyncio.ensure_future(by_hand())
        await until_waiting_for_a_lock(wallet, sessions=2)
        await keep.commit()
        answers = [*await paying, *await asyncio.gather(holding, return_exceptions=True)]
        if hold_lock is None:
            assert isinstance(await also, Reservation)
            await holds.close()
    finally:
        await wallet.close()
        await holder.close()
    await together.close()
    caught = sum(isinstance(a, asyncpg.DeadlockDetectedError) for a in answers)
    return deadlocks.count + caught, answers


async def test_a_payment_meeting_a_hold_of_its_fan_on_its_seat_does_not_deadlock(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold locks its fan so that their key can still be checked: the payment
    finishes, and the hold then finds the seat sold."""
    deadlocks, answers = await _payment_meeting_a_hold_on_its_seat(
        pg, postgres_url, monkeypatch, hold_lock=None
    )
    assert deadlocks == 0
    assert isinstance(answers[0], Outcome) and isinstance(answers[1], Outcome)
    assert isinstance(answers[2], SeatUnavailable)
    await assert_consistent(pg)


async def test_control_a_hold_locking_its_fan_for_update_deadlocks_with_the_payment(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same meeting with the fan locked as migration 0005 locked it: the payment
    waits at its end to check fan u's key, under the hold's lock, while the hold waits
    for the seat the payment locked."""
    deadlocks, _ = await _payment_meeting_a_hold_on_its_seat(
        pg, postgres_url, monkeypatch, hold_lock="UPDATE"
    )
    assert deadlocks >= 1
    await assert_consistent(pg)
