"""Paying for a hold through ``checkout``: the gate, one transaction that debits exactly
the price, sells the seat and confirms the hold, and the end of the visit once no live
hold is left. A retry with the same Idempotency-Key is answered the same, also after
the visit ended; a refused payment changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from boxoffice.catalog.model import SeatStatus
from boxoffice.errors import (
    AlreadyPaid,
    HoldExpired,
    IdempotencyKeyReused,
    InsufficientBalance,
    NotAdmitted,
    ReservationNotFound,
    TokenExpired,
)
from boxoffice.idempotency.service import Outcome
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.payments.service import _request, checkout, pay
from boxoffice.payments.writers import SalesInOneStatement, SalesInSteps, SaleWriter, sales_for
from boxoffice.queue.model import DEFAULT_LINE, QueueState, Sells
from boxoffice.queue.service import QueuePass, WaitingRoom
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.storage import tables
from boxoffice.storage.db import Database
from boxoffice.storage.tables import seats, wallets
from boxoffice.tokens import QueueClaims
from tests.service.factories import (
    HOLD_FOR,
    NOW,
    TICK,
    Show,
    admit,
    assert_consistent,
    audit_baseline,
    balance_of,
    charge,
    database_url,
    hold,
    ledger,
    make_fan,
    make_show,
    seat_status,
    waiting_room,
)
from tests.support import FakeClock

__all__ = ["audit_baseline", "database_url"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def room(db: Database, clock: FakeClock) -> WaitingRoom:
    return waiting_room(db, clock)


async def _pay(
    db: Database,
    room: WaitingRoom,
    claims: QueueClaims,
    reservation_id: int,
    *,
    key: str | None = None,
    clock: FakeClock,
) -> Outcome[PaymentResult]:
    return await checkout(
        db=db,
        sales=sales_for(db),
        waiting_room=room,
        claims=claims,
        reservation_id=reservation_id,
        idempotency_key=key,
        now=clock.now,
    )


async def _visit_is_live(room: WaitingRoom, claims: QueueClaims) -> bool:
    try:
        await room.check(claims=claims, admitted=True)
    except TokenExpired:
        return False
    return True


async def _reservation_status(
    db: Database, *, user_id: int, reservation_id: int, clock: FakeClock
) -> ReservationStatus:
    mine = await reservations.get_own(
        db=db, user_id=user_id, reservation_id=reservation_id, now=clock.now
    )
    return mine.status


async def _a_fan_holding(
    db: Database, room: WaitingRoom, clock: FakeClock, *, price: int = 1_000, balance: int = 1_000
) -> tuple[Show, int, Reservation, QueueClaims]:
    """A show at ``price``, a fan with ``balance`` holding its seat 1, admitted."""
    show = await make_show(db, price=price)
    fan = await make_fan(db, balance=balance)
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    return show, fan, held, await admit(room, user_id=fan, now=clock.now)


async def _standing(
    db: Database, *, fan: int, show: Show, held: Reservation, clock: FakeClock
) -> tuple[int, SeatStatus, ReservationStatus]:
    """The fan's balance, seat 1's status and the hold's reservation status."""
    return (
        await balance_of(db, user_id=fan),
        await seat_status(db, show=show, seat_number=1, now=clock.now),
        await _reservation_status(db, user_id=fan, reservation_id=held.reservation_id, clock=clock),
    )


async def test_a_payment_debits_exactly_the_price_once_sells_the_seat_and_confirms_the_hold(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show, fan, held, claims = await _a_fan_holding(db, room, clock, price=8_000, balance=10_000)
    outcome = await _pay(db, room, claims, held.reservation_id, clock=clock)
    paid = outcome.value
    assert not outcome.replayed
    assert (paid.reservation_id, paid.user_id, paid.amount, paid.balance) == (
        held.reservation_id,
        fan,
        8_000,
        2_000,
    )
    assert (paid.status, paid.paid_at) == (PaymentStatus.COMPLETED, NOW)
    assert await balance_of(db, user_id=fan) == 2_000
    assert await ledger(db, user_id=fan) == [("PAYMENT", -8_000), ("CHARGE", 10_000)]
    assert await seat_status(db, show=show, seat_number=1, now=clock.now) is SeatStatus.SOLD
    status = await _reservation_status(
        db, user_id=fan, reservation_id=held.reservation_id, clock=clock
    )
    assert status is ReservationStatus.CONFIRMED
    await assert_consistent(db)


async def test_a_payment_that_leaves_no_live_hold_ends_the_visit(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    _show, fan, held, claims = await _a_fan_holding(db, room, clock)
    await _pay(db, room, claims, held.reservation_id, clock=clock)
    assert not await _visit_is_live(room, claims)
    # To buy again the fan queues again, with a new token.
    again = await admit(room, user_id=fan, now=clock.now)
    assert again.jti != claims.jti
    await assert_consistent(db)


async def test_a_fan_holding_two_seats_pays_both_before_the_visit_ends(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=2_000)
    one = await hold(db, user_id=fan, show=show, seat_number=1)
    two = await hold(db, user_id=fan, show=show, seat_number=2)
    claims = await admit(room, user_id=fan, now=clock.now)
    await _pay(db, room, claims, one.reservation_id, clock=clock)
    assert await _visit_is_live(room, claims)
    await _pay(db, room, claims, two.reservation_id, clock=clock)
    assert not await _visit_is_live(room, claims)
    assert await balance_of(db, user_id=fan) == 0
    await assert_consistent(db)


async def test_a_hold_that_lapsed_at_the_exact_instant_does_not_keep_the_visit_open(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=1_000)
    claims = await admit(room, user_id=fan, now=clock.now)
    await hold(db, user_id=fan, show=show, seat_number=2, now=clock.now)  # lapses at +300 s
    clock.advance(200)
    paying = await hold(db, user_id=fan, show=show, seat_number=1, now=clock.now)
    clock.advance(100)
    await _pay(db, room, claims, paying.reservation_id, clock=clock)
    assert not await _visit_is_live(room, claims)
    await assert_consistent(db)


async def test_a_retried_payment_is_answered_the_same_and_debits_once(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=5_000)
    one = await hold(db, user_id=fan, show=show, seat_number=1)
    await hold(db, user_id=fan, show=show, seat_number=2)  # keeps the visit open
    claims = await admit(room, user_id=fan, now=clock.now)
    first = await _pay(db, room, claims, one.reservation_id, key="pay-1", clock=clock)
    clock.advance(1)
    again = await _pay(db, room, claims, one.reservation_id, key="pay-1", clock=clock)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert again.status_code == first.status_code == 201
    assert await balance_of(db, user_id=fan) == 4_000
    assert await ledger(db, user_id=fan) == [("PAYMENT", -1_000), ("CHARGE", 5_000)]
    await assert_consistent(db)


async def test_a_retry_after_the_visit_ended_gets_the_first_answer_and_nothing_else_passes(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    _show, fan, held, claims = await _a_fan_holding(db, room, clock, balance=5_000)
    first = await _pay(db, room, claims, held.reservation_id, key="pay-once", clock=clock)
    assert not await _visit_is_live(room, claims)
    again = await _pay(db, room, claims, held.reservation_id, key="pay-once", clock=clock)
    assert again.replayed
    assert again.value == first.value
    # The spent token with a new key, or none, is refused.
    for key in ("another", None):
        with pytest.raises(TokenExpired):
            await _pay(db, room, claims, held.reservation_id, key=key, clock=clock)
    assert await balance_of(db, user_id=fan) == 4_000
    await assert_consistent(db)


async def test_a_key_reused_for_another_reservation_is_refused_and_changes_nothing(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=5_000)
    one = await hold(db, user_id=fan, show=show, seat_number=1)
    two = await hold(db, user_id=fan, show=show, seat_number=2)
    claims = await admit(room, user_id=fan, now=clock.now)
    await _pay(db, room, claims, one.reservation_id, key="k", clock=clock)
    with pytest.raises(IdempotencyKeyReused):
        await _pay(db, room, claims, two.reservation_id, key="k", clock=clock)
    assert await balance_of(db, user_id=fan) == 4_000
    assert await seat_status(db, show=show, seat_number=2, now=clock.now) is SeatStatus.HELD
    assert await _visit_is_live(room, claims)
    await assert_consistent(db)


async def test_a_balance_below_the_price_changes_nothing_and_keeps_the_key_free(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show, fan, held, claims = await _a_fan_holding(db, room, clock, price=8_000, balance=7_999)
    with pytest.raises(InsufficientBalance):
        await _pay(db, room, claims, held.reservation_id, key="pay", clock=clock)
    assert await balance_of(db, user_id=fan) == 7_999
    assert await ledger(db, user_id=fan) == [("CHARGE", 7_999)]
    assert await seat_status(db, show=show, seat_number=1, now=clock.now) is SeatStatus.HELD
    status = await _reservation_status(
        db, user_id=fan, reservation_id=held.reservation_id, clock=clock
    )
    assert status is ReservationStatus.HELD
    assert await _visit_is_live(room, claims)
    await assert_consistent(db)
    # Topping up within the hold, the fan pays with the same key.
    await charge(db, user_id=fan, amount=1, now=clock.now)
    outcome = await _pay(db, room, claims, held.reservation_id, key="pay", clock=clock)
    assert (outcome.replayed, outcome.value.balance) == (False, 0)
    await assert_consistent(db)


async def test_a_hold_can_be_paid_until_the_instant_before_it_lapses(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show, _fan, held, claims = await _a_fan_holding(db, room, clock)
    clock.now = held.held_until - TICK
    await _pay(db, room, claims, held.reservation_id, clock=clock)
    assert await seat_status(db, show=show, seat_number=1, now=clock.now) is SeatStatus.SOLD
    await assert_consistent(db)


async def test_a_hold_cannot_be_paid_from_the_exact_instant_it_lapses(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show, fan, held, claims = await _a_fan_holding(db, room, clock)
    clock.advance(HOLD_FOR.total_seconds())
    with pytest.raises(HoldExpired):
        await _pay(db, room, claims, held.reservation_id, clock=clock)
    assert await _standing(db, fan=fan, show=show, held=held, clock=clock) == (
        1_000,
        SeatStatus.AVAILABLE,
        ReservationStatus.EXPIRED,
    )
    await assert_consistent(db)


async def test_a_released_hold_cannot_be_paid(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show, fan, held, claims = await _a_fan_holding(db, room, clock)
    await reservations.release(
        db=db, user_id=fan, reservation_id=held.reservation_id, now=clock.now
    )
    with pytest.raises(HoldExpired):
        await _pay(db, room, claims, held.reservation_id, clock=clock)
    assert await balance_of(db, user_id=fan) == 1_000
    assert await seat_status(db, show=show, seat_number=1, now=clock.now) is SeatStatus.AVAILABLE
    await assert_consistent(db)


async def test_paying_twice_is_refused_and_debits_once(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=5_000)
    one = await hold(db, user_id=fan, show=show, seat_number=1)
    await hold(db, user_id=fan, show=show, seat_number=2)  # keeps the visit open
    claims = await admit(room, user_id=fan, now=clock.now)
    await _pay(db, room, claims, one.reservation_id, clock=clock)
    with pytest.raises(AlreadyPaid):
        await _pay(db, room, claims, one.reservation_id, clock=clock)
    assert await balance_of(db, user_id=fan) == 4_000
    await assert_consistent(db)


async def test_someone_elses_reservation_or_an_unknown_one_cannot_be_paid(
    db: Database, room: WaitingRoom, clock: FakeClock
) -> None:
    show = await make_show(db, price=1_000)
    owner, other = await make_fan(db, balance=1_000), await make_fan(db, balance=1_000)
    held = await hold(db, user_id=owner, show=show, seat_number=1)
    claims = await admit(room, user_id=other, now=clock.now)
    for reservation_id in (held.reservation_id, held.reservation_id + 10_000):
        with pytest.raises(ReservationNotFound):
            await _pay(db, room, claims, reservation_id, clock=clock)
    assert await balance_of(db, user_id=other) == 1_000
    assert await seat_status(db, show=show, seat_number=1, now=clock.now) is SeatStatus.HELD
    await assert_consistent(db)


Setup = dict[str, int | bool]
REFUSED_SALES: dict[str, tuple[Setup, type[Exception]]] = {
    # case: (how the sale is set up, the error both ways must answer)
    "seat no longer covered by the hold": ({"lost": True}, HoldExpired),
    "balance short of the price": ({"balance": 500}, InsufficientBalance),
    "token of another concert's line": ({"wrong_line": True}, NotAdmitted),
    "short and seat lost: the seat is said first": ({"balance": 500, "lost": True}, HoldExpired),
    "lost seat, wrong line: the line is said first": (
        {"lost": True, "wrong_line": True},
        NotAdmitted,
    ),
    "hold lapsed": ({"lapsed": True}, HoldExpired),
}


async def _sale_state(db: Database, *, fan: int, reservation_id: int) -> tuple[object, ...]:
    """Everything a sale writes, for one fan and reservation."""
    async with db.core.connect() as conn:
        row = (
            await conn.execute(
                select(
                    select(wallets.c.balance).where(wallets.c.user_id == fan).scalar_subquery(),
                    select(tables.reservations.c.status)
                    .where(tables.reservations.c.id == reservation_id)
                    .scalar_subquery(),
                    select(func.count())
                    .select_from(tables.payments)
                    .where(tables.payments.c.reservation_id == reservation_id)
                    .scalar_subquery(),
                    select(func.count())
                    .select_from(tables.wallet_transactions)
                    .where(tables.wallet_transactions.c.reservation_id == reservation_id)
                    .scalar_subquery(),
                    select(func.count())
                    .select_from(seats)
                    .where(seats.c.sold_reservation_id == reservation_id)
                    .scalar_subquery(),
                )
            )
        ).one()
    return tuple(row)


@pytest.mark.parametrize("case", sorted(REFUSED_SALES))
async def test_a_refused_sale_changes_nothing_and_is_refused_alike_by_either_way(
    db: Database, case: str
) -> None:
    """The sale as steps and (on PostgreSQL) as one statement: the same error, in the
    same order of checks, and nothing written. (The steps' statements run on either
    database, so on PostgreSQL both writers are compared.)"""
    setup, expected = REFUSED_SALES[case]
    writers: list[Callable[[Database], SaleWriter]] = [SalesInSteps]
    if db.core.dialect.name == "postgresql":
        writers.append(SalesInOneStatement)
    for writer in writers:
        await _refused_sale(db, writer(db), setup, expected)


async def _refused_sale(
    db: Database, sales: SaleWriter, setup: Setup, expected: type[Exception]
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=int(setup.get("balance", 1_000)))
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    if setup.get("lost"):
        async with db.core.begin() as conn:
            await conn.execute(
                update(seats)
                .where(seats.c.hold_reservation_id == held.reservation_id)
                .values(hold_reservation_id=None, held_until=None)
            )
    before = await _sale_state(db, fan=fan, reservation_id=held.reservation_id)
    now = held.held_until if setup.get("lapsed") else NOW + TICK
    # The default line sells every concert without a line of its own: not this one.
    sells = Sells.of(
        DEFAULT_LINE, concerts_with_lines=[show.concert_id] if setup.get("wrong_line") else []
    )
    admitted = QueuePass(
        user_id=fan, jti="visit", state=QueueState.ADMITTED, line=DEFAULT_LINE, gated_at=0.0
    )
    with pytest.raises(expected):
        await pay(
            db=db,
            sales=sales,
            request=_request(fan, held.reservation_id, None),
            queue_pass=admitted,
            sells=sells,
            reservation_id=held.reservation_id,
            now=now,
        )
    await sales.close()
    assert await _sale_state(db, fan=fan, reservation_id=held.reservation_id) == before
    await assert_consistent(db)
