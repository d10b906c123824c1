"""Orders under contention, through the real app in both shapes, each beside a control
that swaps the all-or-none step for the obvious one and shows the rule then breaks."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select, update

from boxoffice.orders import service as orders_service
from boxoffice.orders.model import Order
from boxoffice.orders.service import OrderAsk
from boxoffice.payments import order_sale
from boxoffice.payments import repository as sales_repo
from boxoffice.payments.model import OrderPaymentResult, PaymentStatus
from boxoffice.queue.model import Sells
from boxoffice.reservations import service as reservations_service
from boxoffice.reservations.repository import the_fans_live_hold
from boxoffice.reservations.writers import HoldWriter, holds_for
from boxoffice.storage import audit
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import reservations
from boxoffice.wallet import repository as wallet
from tests.support import Api

pytestmark = pytest.mark.race

ORDERERS = 40
ROUNDS = 30
SINGLE_HOLDERS = 6


async def _held(db: Database) -> list[tuple[int, int | None]]:
    """(user, order) of every HELD reservation."""
    async with db.core.connect() as conn:
        rows = await conn.execute(
            select(reservations.c.user_id, reservations.c.order_id).where(
                reservations.c.status == "HELD"
            )
        )
        return [(row.user_id, row.order_id) for row in rows]


# --- orders sharing a seat ------------------------------------------------------------


async def hold_seat_by_seat(holds: HoldWriter, ask: OrderAsk, sells: Sells) -> Order:
    """The obvious order: each seat held as a hold of its own, one after another, the
    ones already held kept when a later one is taken."""
    made = []
    for number in ask.seat_numbers:
        made.append(
            await reservations_service.hold_seat(
                holds=holds,
                user_id=ask.user_id,
                schedule_id=ask.schedule_id,
                seat_id=None,
                seat_number=number,
                now=ask.now,
                hold_for=ask.until - ask.now,
                max_holds=ask.max_holds,
                sells=sells,
            )
        )
        await asyncio.sleep(0.002)
    return Order(0, ask.user_id, ask.schedule_id, made)


async def _shared_seat_race(api: Api) -> Counter[int]:
    show = await api.make_show(seats=ORDERERS + 1)
    fans = [await api.admitted_fan() for _ in range(ORDERERS)]
    answers = await asyncio.gather(
        *(api.order(fan, show, seat_numbers=[n + 2, 1]) for n, fan in enumerate(fans))
    )
    return Counter(r.status_code for r in answers)


async def test_orders_sharing_a_seat_one_wins_whole_the_others_hold_nothing(
    api: Api, db: Database
) -> None:
    statuses = await _shared_seat_race(api)
    assert statuses == {201: 1, 409: ORDERERS - 1}
    held = await _held(db)
    assert len(held) == 2 and len(set(held)) == 1 and held[0][1] is not None
    assert await audit.audit(db) == []


@pytest.mark.usefixtures("seat_by_seat")
async def test_control_seat_by_seat_orders_leave_losers_holding_part(
    api: Api, db: Database
) -> None:
    await _shared_seat_race(api)
    losers = {user for user, _ in await _held(db)}
    assert len(losers) > 1  # besides the winner, fans hold the second seat of a lost order


@pytest.fixture
async def seat_by_seat(db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Orders placed by ``hold_seat_by_seat``."""
    holds = holds_for(db)

    async def place(*, db: Database, ask: OrderAsk, sells: Sells) -> Order:
        return await hold_seat_by_seat(holds, ask, sells)

    monkeypatch.setattr(orders_service, "place", place)
    yield
    await holds.close()


# --- an order against single holds -----------------------------------------------------


async def _order_against_holds(api: Api) -> list[tuple[int, list[int]]]:
    """Per round: a fan orders two seats while others hold the second alone; the
    order's status and the seats its fan holds after."""
    show = await api.make_show(seats=2 * ROUNDS)
    results = []
    for n in range(ROUNDS):
        first, second = 2 * n + 1, 2 * n + 2
        fan = await api.admitted_fan()
        others = [await api.admitted_fan() for _ in range(SINGLE_HOLDERS)]
        answers = await asyncio.gather(
            api.order(fan, show, seat_numbers=[first, second]),
            *(api.hold(other, show, seat_number=second) for other in others),
        )
        r = await api.client.get("/api/v1/reservations", headers=fan.access)
        mine = sorted(i["seatNumber"] for i in r.json()["items"] if i["status"] == "HELD")
        assert sum(a.status_code == 201 for a in answers) == 1, "the second seat: one holder"
        results.append((answers[0].status_code, mine))
    return results


async def test_an_order_against_single_holds_is_held_whole_or_not_at_all(
    api: Api, db: Database
) -> None:
    results = await _order_against_holds(api)
    for n, (status, mine) in enumerate(results):
        assert (status, mine) in [(201, [2 * n + 1, 2 * n + 2]), (409, [])], results
    assert await audit.audit(db) == []


@pytest.mark.usefixtures("seat_by_seat")
async def test_control_seat_by_seat_an_order_losing_to_a_hold_keeps_half(api: Api) -> None:
    results = await _order_against_holds(api)
    assert any(len(mine) == 1 for _, mine in results), results


# --- paying an order while a seat of it is released ----------------------------------


# A seat's hold confirmed as a one-seat payment confirms it, the order's seats too.
CONFIRM_ONE = Query(
    update(reservations)
    .where(*the_fans_live_hold(sales_repo.RESERVATION, sales_repo.USER, sales_repo.NOW))
    .values(status=sales_repo.CONFIRMED, confirmed_at=sales_repo.NOW)
)


async def pay_what_is_left(
    conn: Conn, *, order_id: int, user_id: int, now: datetime, sells: Sells
) -> tuple[OrderPaymentResult, int]:
    """The obvious payment: read the order, then confirm and sell each seat still held,
    paying for those."""
    order = await orders_service.own(conn, user_id=user_id, order_id=order_id)
    await asyncio.sleep(0.005)
    paid, amount = [], 0
    for r in order.reservations:
        mine = {"reservation": r.reservation_id, "user": user_id, "now": now}
        if await conn.execute(CONFIRM_ONE, **mine) == 1 and await sales_repo.sell_seat(
            conn, seat_id=r.seat_id, reservation_id=r.reservation_id, now=now
        ):
            paid.append(r.reservation_id)
            amount += r.price
    balance = await wallet.debit(conn, user_id=user_id, amount=amount)
    assert balance is not None
    result = OrderPaymentResult(
        payment_id=1,
        order_id=order_id,
        reservation_ids=paid,
        user_id=user_id,
        amount=amount,
        status=PaymentStatus.COMPLETED,
        paid_at=now,
        balance=balance,
        concert_id=order.concert_id,
    )
    return result, 1


async def _pay_release_rounds(api: Api) -> list[tuple[int, int, list[str]]]:
    """Per round: (payment status, release status, the order's seat statuses after)."""
    show = await api.make_show(seats=2 * ROUNDS, price=100)
    outcomes = []
    for n in range(ROUNDS):
        fan = await api.admitted_fan(balance=200)
        placed = (await api.order(fan, show, seat_numbers=[2 * n + 1, 2 * n + 2])).json()
        first = placed["reservations"][0]["reservationId"]
        paid, released = await asyncio.gather(
            api.pay_order(fan, placed["orderId"]),
            api.client.delete(f"/api/v1/reservations/{first}", headers=fan.queue),
        )
        r = await api.client.get(f"/api/v1/orders/{placed['orderId']}", headers=fan.access)
        seats = [s["status"] for s in r.json()["reservations"]]
        outcomes.append((paid.status_code, released.status_code, seats))
    return outcomes


async def test_an_order_paid_while_a_seat_is_released_is_paid_whole_or_not_at_all(
    api: Api, db: Database
) -> None:
    outcomes = await _pay_release_rounds(api)
    for paid, released, seats in outcomes:
        assert (paid, released, seats) in (
            (201, 409, ["CONFIRMED", "CONFIRMED"]),
            (409, 204, ["CANCELLED", "HELD"]),
        ), outcomes
    assert await audit.audit(db) == []


@pytest.mark.parametrize("backend", ["production"])  # SQLite runs one writer at a time
async def test_control_paying_what_is_left_sells_half_an_order(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_sale, "pay_order", pay_what_is_left)
    outcomes = await _pay_release_rounds(api)
    assert any(seats == ["CANCELLED", "CONFIRMED"] for _, _, seats in outcomes), outcomes
