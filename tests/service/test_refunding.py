"""Refunds: a fan hands a paid ticket back until the cutoff before the show, the
operator refunds any ticket at any time, or cancels a show and refunds all of it. Each
ticket is refunded once, whoever asks and however often; the price comes back past the
balance ceiling; the seat goes back on sale."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from boxoffice.catalog.model import SeatStatus
from boxoffice.errors import (
    AlreadyRefunded,
    HoldExpired,
    IdempotencyKeyReused,
    NotPaid,
    RefundClosed,
    ReservationNotFound,
    ScheduleNotFound,
)
from boxoffice.idempotency.service import Outcome
from boxoffice.payments.service import checkout
from boxoffice.payments.writers import sales_for
from boxoffice.refunds import service as refunds
from boxoffice.refunds.model import RefundResult, RefundStatus
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.db import Database
from boxoffice.wallet import service as wallet
from boxoffice.wallet.writers import charges_for
from tests.service.factories import (
    HOLD_FOR,
    NOW,
    TICK,
    admit,
    assert_consistent,
    audit_baseline,
    balance_of,
    buy,
    database_url,
    hold,
    ledger,
    make_fan,
    make_show,
    seat_status,
    waiting_room,
)

__all__ = ["audit_baseline", "database_url"]

CUTOFF = timedelta(hours=24)


async def _refund(
    db: Database,
    user_id: int,
    reservation_id: int,
    *,
    key: str | None = None,
    now: datetime = NOW,
) -> Outcome[RefundResult]:
    return await refunds.refund_ticket(
        db=db,
        user_id=user_id,
        reservation_id=reservation_id,
        idempotency_key=key,
        cutoff=CUTOFF,
        now=now,
    )


async def _status(db: Database, *, user_id: int, reservation_id: int) -> ReservationStatus:
    mine = await reservations.get_own(
        db=db, user_id=user_id, reservation_id=reservation_id, now=NOW
    )
    return mine.status


async def test_a_refund_gives_the_price_back_and_puts_the_seat_on_sale_again(
    db: Database,
) -> None:
    show = await make_show(db, price=7_000)
    fan = await make_fan(db, balance=7_000)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    outcome = await _refund(db, fan, paid)
    refund = outcome.value
    assert not outcome.replayed
    assert (refund.reservation_id, refund.user_id, refund.amount, refund.balance) == (
        paid,
        fan,
        7_000,
        7_000,
    )
    assert (refund.status, refund.refunded_at) == (RefundStatus.REFUNDED, NOW)
    assert await ledger(db, user_id=fan) == [
        ("REFUND", 7_000),
        ("PAYMENT", -7_000),
        ("CHARGE", 7_000),
    ]
    [latest, *_] = await wallet.history(db=db, user_id=fan, limit=1)
    assert latest.transaction_id == refund.transaction_id
    assert await _status(db, user_id=fan, reservation_id=paid) is ReservationStatus.REFUNDED
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.AVAILABLE
    next_fan = await make_fan(db, balance=7_000)
    await buy(db, user_id=next_fan, show=show, seat_number=1)
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.SOLD
    await assert_consistent(db)


async def test_a_ticket_is_refunded_once(db: Database) -> None:
    show = await make_show(db, price=3_000)
    fan = await make_fan(db, balance=3_000)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    await _refund(db, fan, paid)
    with pytest.raises(AlreadyRefunded):
        await _refund(db, fan, paid)
    with pytest.raises(AlreadyRefunded):
        await refunds.refund_by_operator(db=db, reservation_id=paid, idempotency_key=None, now=NOW)
    assert await balance_of(db, user_id=fan) == 3_000
    await assert_consistent(db)


async def test_a_retry_with_the_same_key_is_answered_the_same_and_refunds_once(
    db: Database,
) -> None:
    show = await make_show(db, price=3_000)
    fan = await make_fan(db, balance=3_000)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    first = await _refund(db, fan, paid, key="refund-1")
    again = await _refund(db, fan, paid, key="refund-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert await balance_of(db, user_id=fan) == 3_000
    await assert_consistent(db)


async def test_a_key_used_for_another_refund_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    show = await make_show(db, price=1_000)
    fan = await make_fan(db, balance=2_000)
    first = await buy(db, user_id=fan, show=show, seat_number=1)
    second = await buy(db, user_id=fan, show=show, seat_number=2)
    await _refund(db, fan, first, key="k")
    with pytest.raises(IdempotencyKeyReused):
        await _refund(db, fan, second, key="k")
    assert await balance_of(db, user_id=fan) == 1_000
    assert await _status(db, user_id=fan, reservation_id=second) is ReservationStatus.CONFIRMED
    await assert_consistent(db)


async def test_only_a_paid_ticket_can_be_refunded(db: Database) -> None:
    show = await make_show(db)
    fan = await make_fan(db, balance=10_000)
    held = await hold(db, user_id=fan, show=show, seat_number=1)
    released = await hold(db, user_id=fan, show=show, seat_number=2)
    await reservations.release(db=db, user_id=fan, reservation_id=released.reservation_id, now=NOW)
    for reservation_id in (held.reservation_id, released.reservation_id):
        with pytest.raises(NotPaid):
            await _refund(db, fan, reservation_id)
    with pytest.raises(NotPaid):  # a lapsed hold
        await _refund(db, fan, held.reservation_id, now=NOW + HOLD_FOR)
    assert await balance_of(db, user_id=fan) == 10_000
    assert await seat_status(db, show=show, seat_number=1, now=NOW) is SeatStatus.HELD
    await assert_consistent(db)


async def test_someone_elses_ticket_or_an_unknown_one_is_not_found(db: Database) -> None:
    show = await make_show(db)
    owner, other = await make_fan(db, balance=10_000), await make_fan(db)
    paid = await buy(db, user_id=owner, show=show, seat_number=1)
    for reservation_id in (paid, paid + 10_000):
        with pytest.raises(ReservationNotFound):
            await _refund(db, other, reservation_id)
    with pytest.raises(ReservationNotFound):
        await refunds.refund_by_operator(
            db=db, reservation_id=paid + 10_000, idempotency_key=None, now=NOW
        )
    assert await balance_of(db, user_id=other) == 0
    assert await _status(db, user_id=owner, reservation_id=paid) is ReservationStatus.CONFIRMED
    await assert_consistent(db)


async def test_a_fan_may_refund_until_the_exact_instant_of_the_cutoff(db: Database) -> None:
    show = await make_show(db, price=2_000, starts_in=timedelta(days=2))
    early, late = await make_fan(db, balance=2_000), await make_fan(db, balance=2_000)
    first = await buy(db, user_id=early, show=show, seat_number=1)
    second = await buy(db, user_id=late, show=show, seat_number=2)
    closes = show.concert_at - CUTOFF
    await _refund(db, early, first, now=closes - TICK)
    with pytest.raises(RefundClosed):
        await _refund(db, late, second, now=closes)
    assert await balance_of(db, user_id=late) == 0
    assert await _status(db, user_id=late, reservation_id=second) is ReservationStatus.CONFIRMED
    assert await seat_status(db, show=show, seat_number=2, now=closes) is SeatStatus.SOLD
    await assert_consistent(db)


async def test_the_operator_refunds_a_ticket_past_the_cutoff(db: Database) -> None:
    show = await make_show(db, price=2_000, starts_in=timedelta(days=2))
    fan = await make_fan(db, balance=2_000)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    outcome = await refunds.refund_by_operator(
        db=db, reservation_id=paid, idempotency_key="op-1", now=show.concert_at - TICK
    )
    assert (outcome.value.user_id, outcome.value.amount, outcome.value.balance) == (
        fan,
        2_000,
        2_000,
    )
    again = await refunds.refund_by_operator(
        db=db, reservation_id=paid, idempotency_key="op-1", now=show.concert_at
    )
    assert (again.replayed, again.value) == (True, outcome.value)
    assert await balance_of(db, user_id=fan) == 2_000
    await assert_consistent(db)


async def test_a_refund_is_not_held_back_by_the_balance_ceiling(db: Database) -> None:
    show = await make_show(db, price=10_000)
    fan = await make_fan(db, balance=10_000)
    paid = await buy(db, user_id=fan, show=show, seat_number=1)
    ceiling = 10_000
    await wallet.charge(
        db=db,
        charges=charges_for(db),
        user_id=fan,
        amount=10_000,
        max_charge=10_000,
        max_balance=ceiling,
        idempotency_key=None,
        now=NOW,
    )
    refund = (await _refund(db, fan, paid)).value
    assert refund.balance == 2 * ceiling
    assert await balance_of(db, user_id=fan) == 2 * ceiling
    await assert_consistent(db)


async def test_cancelling_a_show_refunds_every_ticket_once_even_when_asked_twice(
    db: Database,
) -> None:
    show = await make_show(db, seats=5, price=4_000)
    buyers = [await make_fan(db, balance=4_000) for _ in range(3)]
    tickets = [
        await buy(db, user_id=fan, show=show, seat_number=number)
        for number, fan in enumerate(buyers, start=1)
    ]
    holder = await make_fan(db, balance=4_000)
    await hold(db, user_id=holder, show=show, seat_number=4)  # a hold is no ticket
    first = await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id, now=NOW)
    assert (first.schedule_id, first.concert_id, first.cancelled_at) == (
        show.schedule_id,
        show.concert_id,
        NOW,
    )
    assert (first.refunded, first.refunded_now, first.refunded_amount) == (3, 3, 12_000)
    again = await refunds.cancel_schedule(
        db=db, schedule_id=show.schedule_id, now=NOW + timedelta(hours=1)
    )
    assert (again.refunded, again.refunded_now, again.refunded_amount) == (3, 0, 12_000)
    assert again.cancelled_at == NOW
    for fan, ticket in zip(buyers, tickets, strict=True):
        assert await balance_of(db, user_id=fan) == 4_000
        assert await ledger(db, user_id=fan) == [
            ("REFUND", 4_000),
            ("PAYMENT", -4_000),
            ("CHARGE", 4_000),
        ]
        assert await _status(db, user_id=fan, reservation_id=ticket) is ReservationStatus.REFUNDED
    await assert_consistent(db)


async def test_cancelling_a_show_releases_its_holds(db: Database) -> None:
    show = await make_show(db, price=4_000)
    holder = await make_fan(db, balance=4_000)
    held = await hold(db, user_id=holder, show=show, seat_number=1)
    await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id, now=NOW)
    assert (
        await _status(db, user_id=holder, reservation_id=held.reservation_id)
        is ReservationStatus.CANCELLED
    )
    room = waiting_room(db, lambda: NOW)
    claims = await admit(room, user_id=holder, now=NOW)
    with pytest.raises(HoldExpired):
        await checkout(
            db=db,
            sales=sales_for(db),
            waiting_room=room,
            claims=claims,
            reservation_id=held.reservation_id,
            idempotency_key=None,
            now=NOW,
        )
    assert await balance_of(db, user_id=holder) == 4_000
    # The hold no longer counts toward the fan's limit elsewhere.
    elsewhere = await make_show(db)
    await hold(db, user_id=holder, show=elsewhere, seat_number=1, max_holds=1)
    await assert_consistent(db)


async def test_a_ticket_refunded_before_the_show_is_cancelled_is_not_refunded_again(
    db: Database,
) -> None:
    show = await make_show(db, price=4_000)
    fan, other = await make_fan(db, balance=4_000), await make_fan(db, balance=4_000)
    refunded = await buy(db, user_id=fan, show=show, seat_number=1)
    await buy(db, user_id=other, show=show, seat_number=2)
    await _refund(db, fan, refunded)
    cancelled = await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id, now=NOW)
    assert (cancelled.refunded, cancelled.refunded_now, cancelled.refunded_amount) == (
        2,
        1,
        8_000,
    )
    assert await balance_of(db, user_id=fan) == 4_000
    assert await balance_of(db, user_id=other) == 4_000
    await assert_consistent(db)


async def test_cancelling_an_unknown_schedule_is_not_found(db: Database) -> None:
    show = await make_show(db)
    with pytest.raises(ScheduleNotFound):
        await refunds.cancel_schedule(db=db, schedule_id=show.schedule_id + 10_000, now=NOW)
    fan = await make_fan(db)
    await hold(db, user_id=fan, show=show, seat_number=1)  # the real one is still on sale
    await assert_consistent(db)
