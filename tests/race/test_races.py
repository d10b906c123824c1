"""Races through the real app, in both shapes, each beside a control.

A control swaps the guarded step for the obvious check-then-write version (read in
one step, write in another) and shows that the same load then breaks the rule, so
each race test is known to be able to fail.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.errors import (
    AlreadyPaid,
    AlreadyRefunded,
    HoldExpired,
    HoldLimitReached,
    InsufficientBalance,
    SeatUnavailable,
)
from boxoffice.idempotency.service import Keyed, Outcome
from boxoffice.payments import service as payments_service
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.payments.writers import SaleWriter
from boxoffice.queue.memory import MemoryQueueStore
from boxoffice.queue.model import Sells
from boxoffice.queue.service import QueuePass
from boxoffice.queue.store import NO_ADDRESS, Refused, Seen
from boxoffice.reservations import reads
from boxoffice.reservations import repository as holds_repo
from boxoffice.reservations import service as reservations_service
from boxoffice.reservations.holds import live_hold
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.refund_repository import Refunded
from boxoffice.reservations.writers import HoldWriter
from boxoffice.storage import audit
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn, CoreConn, Query
from boxoffice.storage.tables import reservations, seats, wallet_transactions, wallets
from boxoffice.wallet import service as wallet_service
from boxoffice.wallet.model import ChargeResult
from boxoffice.wallet.writers import ChargeWriter
from tests.support import Api, FakeClock, Fan, serve

pytestmark = pytest.mark.race

HOLDERS = 200
CHARGES = 100
JOINERS = 200
PAYMENTS = 4
LIMIT_TRIES = 40  # holds one fan asks for at once, each of another seat
NO_LIMIT = 10**6


async def _admitted_fans(api: Api, n: int, *, balance: int = 0) -> list[Fan]:
    return list(await asyncio.gather(*(api.admitted_fan(balance=balance) for _ in range(n))))


# --- holds ----------------------------------------------------------------------------


async def naive_hold_seat(
    *,
    db: Database,
    holds: HoldWriter,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
    sells: Sells,
) -> Reservation:
    """Check the seat is free, then take it: two steps, nothing tying them together."""
    async with db.core.connect() as conn:
        row = await _seat_row(conn, schedule_id=schedule_id, seat_number=seat_number)
    if row.sold_reservation_id is not None or (row.held_until and row.held_until > now):
        raise SeatUnavailable()
    await asyncio.sleep(0.001)
    return await _take(db, row, user_id=user_id, until=now + hold_for, now=now)


async def _seat_row(conn: AsyncConnection, *, schedule_id: int, seat_number: int | None) -> Any:
    query = select(seats).where(
        seats.c.schedule_id == schedule_id, seats.c.seat_number == seat_number
    )
    return (await conn.execute(query)).one()


async def _take(
    db: Database, seat: Any, *, user_id: int, until: datetime, now: datetime
) -> Reservation:
    """The second step of a check-then-write hold: a reservation, and the seat pointed
    at it whatever it holds now."""
    async with db.core.begin() as conn:
        rid = await holds_repo.add_hold(
            CoreConn(conn),
            user_id=user_id,
            seat_id=seat.id,
            price=seat.price,
            until=until,
            now=now,
            max_holds=NO_LIMIT,  # whatever was checked, was checked before
        )
        assert rid is not None
        await conn.execute(
            update(seats)
            .where(seats.c.id == seat.id)
            .values(hold_reservation_id=rid, held_until=until)
        )
        reservation = await reads.get(CoreConn(conn), reservation_id=rid)
    assert reservation is not None
    return reservation


async def _hold_race(api: Api) -> Counter[int]:
    show = await api.make_show(seats=1)
    fans = await _admitted_fans(api, HOLDERS)
    answers = await asyncio.gather(*(api.hold(fan, show, seat_number=1) for fan in fans))
    return Counter(r.status_code for r in answers)


async def test_exactly_one_of_many_concurrent_holds_wins_a_seat(api: Api, db: Database) -> None:
    statuses = await _hold_race(api)
    assert statuses == {201: 1, 409: HOLDERS - 1}
    async with db.core.connect() as conn:
        held = (
            await conn.execute(select(reservations).where(reservations.c.status == "HELD"))
        ).all()
    assert len(held) == 1


async def test_control_without_the_conditional_update_a_seat_is_held_twice(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        reservations_service, "hold_seat", functools.partial(naive_hold_seat, db=db)
    )
    statuses = await _hold_race(api)
    assert statuses[201] > 1


# --- the hold limit -------------------------------------------------------------------


async def count_then_hold_seat(
    *,
    db: Database,
    holds: HoldWriter,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
    sells: Sells,
) -> Reservation:
    """Count the fan's live holds, then hold if under the limit: the count is read
    without the fan's row lock, so holds of one fan counting at once all pass."""
    async with db.core.connect() as conn:
        held = await holds_repo.count_live_holds(CoreConn(conn), user_id=user_id, now=now)
        row = await _seat_row(conn, schedule_id=schedule_id, seat_number=seat_number)
    if held >= max_holds:
        raise HoldLimitReached()
    await asyncio.sleep(0.001)
    return await _take(db, row, user_id=user_id, until=now + hold_for, now=now)


async def _hold_limit_race(api: Api, db: Database) -> tuple[Counter[int], int]:
    """One fan holds many seats at once: the answers, and the fan's live holds after."""
    show = await api.make_show(seats=LIMIT_TRIES)
    fan = await api.admitted_fan()
    async with db.core.begin() as conn:
        if not db.is_sqlite:
            # While the seats are locked the holds arrive and pile up, each after what
            # its snapshot read: the first on its seat, the others behind it on the
            # fan's lock (or, with nothing locking the fan, on their seats). So they
            # overlap wholly however short each is. (SQLite's one writer at a time
            # runs them as they come.)
            await conn.execute(
                select(seats.c.id).where(seats.c.schedule_id == show.schedule_id).with_for_update()
            )
        holding = asyncio.gather(
            *(api.hold(fan, show, seat_number=n) for n in range(1, LIMIT_TRIES + 1))
        )
        await asyncio.sleep(0.5)
    answers = await holding
    async with db.core.connect() as conn:
        held = await holds_repo.count_live_holds(
            CoreConn(conn), user_id=fan.user_id, now=api.clock.now
        )
    return Counter(r.status_code for r in answers), held


async def test_one_fans_concurrent_holds_stop_exactly_at_the_limit(
    api: Api, db: Database, settings: Settings
) -> None:
    statuses, held = await _hold_limit_race(api, db)
    limit = settings.max_holds_per_user
    assert statuses == {201: limit, 409: LIMIT_TRIES - limit}
    assert held == limit


async def test_control_counting_without_the_fans_lock_holds_past_the_limit(
    api: Api, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        reservations_service, "hold_seat", functools.partial(count_then_hold_seat, db=db)
    )
    statuses, held = await _hold_limit_race(api, db)
    assert statuses[201] > settings.max_holds_per_user
    assert held > settings.max_holds_per_user


# --- charges --------------------------------------------------------------------------


async def naive_charge(
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
    """Read the balance, add in Python, write it back."""
    async with db.core.connect() as conn:
        balance = (
            await conn.execute(select(wallets.c.balance).where(wallets.c.user_id == user_id))
        ).scalar_one()
    await asyncio.sleep(0.001)
    async with db.core.begin() as conn:
        await conn.execute(
            update(wallets).where(wallets.c.user_id == user_id).values(balance=balance + amount)
        )
    return Outcome(ChargeResult(user_id, balance + amount, amount, 0), 200, replayed=False)


async def _charge_race(api: Api) -> tuple[Fan, list[int]]:
    fan = await api.register()
    answers = await asyncio.gather(*(api.charge(fan, n) for n in range(1, CHARGES + 1)))
    return fan, [r.status_code for r in answers]


async def test_concurrent_charges_add_up_exactly(api: Api, db: Database) -> None:
    fan, statuses = await _charge_race(api)
    assert statuses == [200] * CHARGES
    assert await api.balance(fan) == CHARGES * (CHARGES + 1) // 2
    async with db.core.connect() as conn:
        after = (
            (
                await conn.execute(
                    select(wallet_transactions.c.balance_after).where(
                        wallet_transactions.c.user_id == fan.user_id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(set(after)) == CHARGES  # each charge saw the one before it
    assert await audit.audit(db) == []


async def test_control_read_modify_write_charges_lose_updates(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wallet_service, "charge", naive_charge)
    fan, _ = await _charge_race(api)
    assert await api.balance(fan) < CHARGES * (CHARGES + 1) // 2


# --- payments -------------------------------------------------------------------------


async def naive_pay(
    *,
    db: Database,
    sales: SaleWriter,
    request: Keyed[PaymentResult],
    queue_pass: QueuePass,
    sells: Sells,
    reservation_id: int,
    now: datetime,
) -> tuple[Outcome[PaymentResult], int | None]:
    """Check the balance covers the price, then confirm and set the new balance."""
    user_id = queue_pass.user_id
    async with db.core.connect() as conn:
        reservation = await reads.get(CoreConn(conn), reservation_id=reservation_id)
        assert reservation is not None
        balance = (
            await conn.execute(select(wallets.c.balance).where(wallets.c.user_id == user_id))
        ).scalar_one()
    if balance < reservation.price:
        raise InsufficientBalance()
    await asyncio.sleep(0.001)
    async with db.core.begin() as conn:
        await _confirm(conn, user_id=user_id, reservation_id=reservation_id, now=now)
        await conn.execute(
            update(wallets)
            .where(wallets.c.user_id == user_id)
            .values(balance=balance - reservation.price)
        )
    result = PaymentResult(
        0, reservation_id, user_id, reservation.price, PaymentStatus.COMPLETED, now, 0
    )
    return Outcome(result, 201, replayed=False), 1


async def _confirm(
    conn: AsyncConnection, *, user_id: int, reservation_id: int, now: datetime
) -> None:
    """The fan's live hold becomes a sale and its seat is sold to it; the balance is
    none of its business."""
    confirmed = await conn.execute(
        update(reservations)
        .where(
            reservations.c.id == reservation_id,
            reservations.c.user_id == user_id,
            reservations.c.status == ReservationStatus.HELD.value,
            live_hold(reservations.c.held_until, now),
        )
        .values(status=ReservationStatus.CONFIRMED.value, confirmed_at=now)
        .returning(reservations.c.seat_id)
    )
    seat_id = confirmed.scalar_one_or_none()
    if seat_id is None:
        raise HoldExpired()
    sold = await conn.execute(
        update(seats)
        .where(
            seats.c.id == seat_id,
            seats.c.hold_reservation_id == reservation_id,
            live_hold(seats.c.held_until, now),
        )
        .values(sold_reservation_id=reservation_id, hold_reservation_id=None, held_until=None)
    )
    if sold.rowcount != 1:
        raise HoldExpired()


async def _payment_race(api: Api, price: int) -> tuple[Fan, Counter[int]]:
    show = await api.make_show(seats=PAYMENTS, price=price)
    fan = await api.admitted_fan(balance=price)  # money for exactly one seat
    held = [await api.hold(fan, show, seat_number=n) for n in range(1, PAYMENTS + 1)]
    rids = [r.json()["reservationId"] for r in held]
    answers = await asyncio.gather(*(api.pay(fan, rid) for rid in rids))
    return fan, Counter(r.status_code for r in answers)


async def test_concurrent_payments_with_money_for_one_let_exactly_one_through(
    api: Api, db: Database
) -> None:
    fan, statuses = await _payment_race(api, price=10_000)
    assert statuses == {201: 1, 402: PAYMENTS - 1}
    assert await api.balance(fan) == 0
    assert await audit.audit(db) == []


async def test_control_check_then_debit_payments_spend_the_money_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payments_service, "pay", naive_pay)
    _, statuses = await _payment_race(api, price=10_000)
    assert statuses[201] > 1


# --- joins ----------------------------------------------------------------------------


class CountThenInsertStore(MemoryQueueStore):
    """Assigns a position by counting the line, then joining it, as two steps."""

    async def join(
        self,
        *,
        line: str,
        user_id: int,
        jti: str,
        token_expires_at: int,
        address: str = NO_ADDRESS,
    ) -> Seen | Refused:
        ahead = len(self._line(line).waiting)
        await asyncio.sleep(0)
        seen = await super().join(
            line=line,
            user_id=user_id,
            jti=jti,
            token_expires_at=token_expires_at,
            address=address,
        )
        assert isinstance(seen, Seen)
        return replace(seen, ticket=replace(seen.ticket, position=ahead + 1))


async def _join_race(
    settings: Settings, clock: FakeClock, store: MemoryQueueStore | None
) -> list[int]:
    async with serve(create_app(settings, clock=clock, queue_store=store)) as client:
        api = Api(client, clock)
        fans = list(await asyncio.gather(*(api.register() for _ in range(JOINERS))))
        answers = await asyncio.gather(*(api.join(fan) for fan in fans))
        assert {r.status_code for r in answers} == {201}
        return sorted(r.json()["position"] for r in answers)


async def test_concurrent_joins_get_unique_gap_free_positions(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    positions = await _join_race(make_settings(admission_capacity=0), clock, None)
    assert positions == list(range(1, JOINERS + 1))


async def test_control_count_then_insert_joins_share_positions(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(admission_capacity=0)
    store = CountThenInsertStore(lambda: clock().timestamp())
    positions = await _join_race(settings, clock, store)
    assert len(set(positions)) < JOINERS


# --- a release racing a payment -------------------------------------------------------

ROUNDS = 40


async def naive_release(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> None:
    """Read the reservation, then end its hold: a payment in between goes unnoticed and
    the 0-row UPDATE reads as 'already released'."""

    async def work(conn: Conn) -> None:
        reservation = await reads.get(conn, reservation_id=reservation_id)
        assert reservation is not None
        if reservation.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid()
        await asyncio.sleep(0.005)
        seat_id = await holds_repo.end_hold(
            conn,
            reservation_id=reservation_id,
            user_id=user_id,
            status=ReservationStatus.CANCELLED,
            now=now,
        )
        if seat_id is not None:
            await holds_repo.free_seat(conn, seat_id=seat_id, reservation_id=reservation_id)

    await db.run(work)


async def _release_pay_rounds(api: Api) -> list[tuple[int, int]]:
    """Per round: (release status, payment status) for one hold released and paid at once."""
    show = await api.make_show(seats=ROUNDS, price=100)
    outcomes = []
    for seat in range(1, ROUNDS + 1):
        fan = await api.admitted_fan(balance=100)
        rid = (await api.hold(fan, show, seat_number=seat)).json()["reservationId"]
        released, paid = await asyncio.gather(
            api.client.delete(f"/api/v1/reservations/{rid}", headers=fan.queue),
            api.pay(fan, rid),
        )
        outcomes.append((released.status_code, paid.status_code))
    return outcomes


async def test_a_release_racing_a_payment_never_answers_204_for_a_paid_hold(
    api: Api, db: Database
) -> None:
    outcomes = await _release_pay_rounds(api)
    assert set(outcomes) <= {(204, 409), (409, 201)}, Counter(outcomes)
    assert await audit.audit(db) == []


@pytest.mark.parametrize("backend", ["production"])  # SQLite runs one writer at a time
async def test_control_read_then_release_answers_204_for_a_paid_hold(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reservations_service, "release", naive_release)
    outcomes = await _release_pay_rounds(api)
    assert (204, 201) in outcomes


# --- refunds --------------------------------------------------------------------------

REFUNDERS = 20


async def naive_refund(conn: Conn, *, reservation_id: int, now: datetime) -> Refunded:
    """Check the ticket is paid, then mark it refunded with no guard on its state."""
    reservation = await reads.get(conn, reservation_id=reservation_id)
    assert reservation is not None
    if reservation.status is not ReservationStatus.CONFIRMED:
        raise AlreadyRefunded()
    await asyncio.sleep(0.005)
    await conn.execute(
        Query(
            update(reservations)
            .where(reservations.c.id == reservation_id)
            .values(status=ReservationStatus.REFUNDED.value, refunded_at=now)
        )
    )
    return Refunded(reservation_id, reservation.user_id, reservation.seat_id, reservation.price)


async def _refund_race(api: Api) -> tuple[Fan, Counter[int]]:
    fan, _, rid = await api.bought(price=1_000)
    answers = await asyncio.gather(*(api.refund(fan, rid) for _ in range(REFUNDERS)))
    return fan, Counter(r.status_code for r in answers)


async def test_concurrent_refunds_of_one_ticket_give_the_money_back_once(
    api: Api, db: Database
) -> None:
    fan, statuses = await _refund_race(api)
    assert statuses == {200: 1, 409: REFUNDERS - 1}
    assert await api.balance(fan) == 1_000
    assert await audit.audit(db) == []


@pytest.mark.parametrize("backend", ["production"])  # SQLite runs one writer at a time
async def test_control_check_then_refund_gives_the_money_back_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reservations_service, "refund", naive_refund)
    fan, statuses = await _refund_race(api)
    assert statuses[200] > 1
    assert await api.balance(fan) > 1_000
