"""Payments: one transaction that debits, sells and confirms; the visit ends after it."""

from __future__ import annotations

from collections.abc import Callable

from boxoffice.config import Settings
from tests.support import Api, FakeClock, running_api


async def test_a_payment_debits_the_price_once_and_sells_the_seat(api: Api) -> None:
    show = await api.make_show(price=8_000)
    fan = await api.admitted_fan(balance=10_000)
    rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    r = await api.pay(fan, rid)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {
        "paymentId",
        "reservationId",
        "userId",
        "amount",
        "status",
        "paidAt",
        "balance",
    }
    assert (body["reservationId"], body["userId"], body["amount"]) == (rid, fan.user_id, 8_000)
    assert body["balance"] == 2_000
    assert await api.balance(fan) == 2_000


async def test_paying_twice_is_refused_and_debits_once(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(), clock) as api:
        show = await api.make_show(price=1_000)
        fan = await api.admitted_fan(balance=5_000)
        first = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
        await api.hold(fan, show, seat_number=2)  # a second live hold keeps the token alive
        assert (await api.pay(fan, first)).status_code == 201
        r = await api.pay(fan, first)
        assert (r.status_code, r.json()["code"]) == (409, "already_paid")
        assert await api.balance(fan) == 4_000


async def test_a_balance_below_the_price_is_402_and_changes_nothing(api: Api) -> None:
    show = await api.make_show(price=8_000)
    fan = await api.admitted_fan(balance=7_999)
    rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    r = await api.pay(fan, rid)
    assert (r.status_code, r.json()["code"]) == (402, "insufficient_balance")
    assert await api.balance(fan) == 7_999
    mine = await api.client.get(f"/api/v1/reservations/{rid}", headers=fan.queue)
    assert mine.json()["status"] == "HELD"
    # Topping up within the hold still lets the fan pay.
    await api.charge(fan, 1)
    assert (await api.pay(fan, rid)).status_code == 201


async def test_a_fan_holding_two_seats_pays_both_before_the_token_is_spent(api: Api) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=2_000)
    one = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    two = (await api.hold(fan, show, seat_number=2)).json()["reservationId"]
    assert (await api.pay(fan, one)).status_code == 201
    assert (await api.status(fan)).json()["status"] == "ADMITTED"
    assert (await api.pay(fan, two)).status_code == 201
    r = await api.status(fan)
    assert r.status_code == 401
    # To buy again the fan queues again.
    assert (await api.join(fan)).status_code == 201


async def test_a_retried_payment_answers_the_original_201_after_the_token_is_spent(
    api: Api,
) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=5_000)
    rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    first = await api.pay(fan, rid, key="pay-once")
    assert first.status_code == 201
    assert (await api.status(fan)).status_code == 401  # the token is spent
    again = await api.pay(fan, rid, key="pay-once")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert await api.balance(fan) == 4_000
    # A spent token with a new key (or none) is still refused.
    assert (await api.pay(fan, rid, key="another")).status_code == 401
    assert (await api.pay(fan, rid)).status_code == 401


async def test_a_payment_key_reused_for_another_reservation_is_refused(api: Api) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=5_000)
    one = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    two = (await api.hold(fan, show, seat_number=2)).json()["reservationId"]
    assert (await api.pay(fan, one, key="k")).status_code == 201
    r = await api.pay(fan, two, key="k")
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
    assert await api.balance(fan) == 4_000


async def test_an_unknown_reservation_is_404(api: Api) -> None:
    fan = await api.admitted_fan(balance=5_000)
    r = await api.pay(fan, 31337)
    assert (r.status_code, r.json()["code"]) == (404, "reservation_not_found")


async def test_a_paid_reservation_cannot_be_released(api: Api) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=5_000)
    one = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    await api.hold(fan, show, seat_number=2)
    await api.pay(fan, one)
    r = await api.client.delete(f"/api/v1/reservations/{one}", headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (409, "already_paid")
