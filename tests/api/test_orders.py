"""Orders: several seats held together (every seat or none) and paid with one payment
(every seat or none), on both shapes."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support import Api, Fan, Show


async def _seat_states(api: Api, fan: Fan, show: Show) -> dict[int, str]:
    r = await api.seats(fan, show)
    assert r.status_code == 200, r.text
    return {seat["seatNumber"]: seat["status"] for seat in r.json()["seats"]}


async def _live_holds(api: Api, fan: Fan) -> list[int]:
    r = await api.client.get("/api/v1/reservations", headers=fan.access)
    assert r.status_code == 200, r.text
    return [item["seatNumber"] for item in r.json()["items"] if item["status"] == "HELD"]


async def test_an_order_holds_every_seat_and_answers_the_total(api: Api) -> None:
    show = await api.make_show(price=12_000)
    fan = await api.admitted_fan()
    r = await api.order(fan, show, seat_ids=[show.seat_ids[2], show.seat_ids[3]])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["scheduleId"] == show.schedule_id
    assert (body["status"], body["total"]) == ("HELD", 24_000)
    held_until = datetime.fromisoformat(body["heldUntil"])
    assert (held_until - api.clock.now).total_seconds() == 300
    seats = body["reservations"]
    assert [s["seatNumber"] for s in seats] == [3, 4]
    assert {s["orderId"] for s in seats} == {body["orderId"]}
    assert {s["status"] for s in seats} == {"HELD"}
    assert {(s["section"], s["row"], s["grade"]) for s in seats} == {("Floor", "1", "General")}
    assert [s["label"] for s in seats] == ["3", "4"]
    states = await _seat_states(api, fan, show)
    assert (states[3], states[4], states[5]) == ("HELD", "HELD", "AVAILABLE")


async def test_an_order_by_seat_numbers_is_read_back_by_either_token(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    placed = (await api.order(fan, show, seat_numbers=[7, 5])).json()
    for headers in (fan.queue, fan.access):
        r = await api.client.get(f"/api/v1/orders/{placed['orderId']}", headers=headers)
        assert r.status_code == 200, r.text
        assert [s["seatNumber"] for s in r.json()["reservations"]] == [5, 7]
    other = await api.admitted_fan()
    r = await api.client.get(f"/api/v1/orders/{placed['orderId']}", headers=other.queue)
    assert (r.status_code, r.json()["code"]) == (404, "order_not_found")


async def test_one_seat_taken_holds_none_and_names_it(api: Api) -> None:
    show = await api.make_show()
    first, fan = await api.admitted_fan(), await api.admitted_fan()
    assert (await api.hold(first, show, seat_number=2)).status_code == 201
    r = await api.order(fan, show, seat_numbers=[1, 2, 3])
    assert (r.status_code, r.json()["code"]) == (409, "seat_unavailable")
    assert r.json()["seatNumbers"] == [2]
    assert r.json()["seatIds"] == [show.seat_ids[1]]
    assert await _live_holds(api, fan) == []
    states = await _seat_states(api, fan, show)
    assert (states[1], states[2], states[3]) == ("AVAILABLE", "HELD", "AVAILABLE")


async def test_each_seat_counts_toward_the_hold_limit(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    r = await api.order(fan, show, seat_numbers=[1, 2, 3, 4, 5])
    assert (r.status_code, r.json()["code"]) == (409, "hold_limit_reached")
    assert (await api.hold(fan, show, seat_number=10)).status_code == 201
    r = await api.order(fan, show, seat_numbers=[1, 2, 3, 4])
    assert (r.status_code, r.json()["code"]) == (409, "hold_limit_reached")
    assert (await api.order(fan, show, seat_numbers=[1, 2, 3])).status_code == 201
    assert sorted(await _live_holds(api, fan)) == [1, 2, 3, 10]


async def test_an_order_naming_a_seat_the_schedule_lacks_holds_nothing(api: Api) -> None:
    show = await api.make_show(seats=5)
    fan = await api.admitted_fan()
    r = await api.order(fan, show, seat_numbers=[1, 6])
    assert (r.status_code, r.json()["code"]) == (404, "seat_not_found")
    assert "6" in r.json()["detail"]
    assert await _live_holds(api, fan) == []


async def test_malformed_orders_are_refused(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    for body in (
        {"scheduleId": show.schedule_id},
        {"scheduleId": show.schedule_id, "seatNumbers": []},
        {"scheduleId": show.schedule_id, "seatNumbers": [1, 1]},
        {"scheduleId": show.schedule_id, "seatNumbers": [1], "seatIds": [show.seat_ids[0]]},
        {"scheduleId": show.schedule_id, "seatNumbers": ["1"]},
    ):
        r = await api.client.post("/api/v1/orders", json=body, headers=fan.queue)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
    r = await api.client.post(
        "/api/v1/orders", json={"scheduleId": 999_999, "seatNumbers": [1]}, headers=fan.queue
    )
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")


async def test_an_order_needs_an_admitted_queue_token(api: Api) -> None:
    show = await api.make_show()
    fan = await api.register()
    r = await api.client.post(
        "/api/v1/orders",
        json={"scheduleId": show.schedule_id, "seatNumbers": [1]},
        headers=fan.access,
    )
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")


async def test_one_payment_pays_the_whole_order_and_ends_the_visit(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=50_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    r = await api.pay_order(fan, placed["orderId"])
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["orderId"] == placed["orderId"]
    assert sorted(paid["reservationIds"]) == sorted(
        s["reservationId"] for s in placed["reservations"]
    )
    assert (paid["amount"], paid["balance"], paid["status"]) == (20_000, 30_000, "COMPLETED")
    assert await api.balance(fan) == 30_000
    r = await api.client.get(f"/api/v1/orders/{placed['orderId']}", headers=fan.access)
    assert r.json()["status"] == "CONFIRMED"
    assert {s["status"] for s in r.json()["reservations"]} == {"CONFIRMED"}
    ledger = (await api.client.get("/api/v1/wallet/transactions", headers=fan.access)).json()
    payments = [e for e in ledger["items"] if e["type"] == "PAYMENT"]
    assert sorted(e["balanceAfter"] for e in payments) == [30_000, 40_000]
    # No live hold is left: the queue token is spent.
    assert (await api.status(fan)).status_code == 401


async def test_a_short_balance_pays_nothing_and_keeps_the_holds(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=15_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    r = await api.pay_order(fan, placed["orderId"])
    assert (r.status_code, r.json()["code"]) == (402, "insufficient_balance")
    assert await api.balance(fan) == 15_000
    assert sorted(await _live_holds(api, fan)) == [1, 2]
    assert (await api.charge(fan, 5_000)).status_code == 200
    assert (await api.pay_order(fan, placed["orderId"])).status_code == 201


async def test_a_released_seat_of_the_order_means_nothing_is_paid(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=50_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    first = placed["reservations"][0]["reservationId"]
    r = await api.client.delete(f"/api/v1/reservations/{first}", headers=fan.queue)
    assert r.status_code == 204
    r = await api.pay_order(fan, placed["orderId"])
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")
    assert await api.balance(fan) == 50_000
    assert await _live_holds(api, fan) == [2]


async def test_a_lapsed_order_is_not_paid_and_its_seats_are_free(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan, other = await api.admitted_fan(balance=50_000), await api.admitted_fan()
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    api.clock.advance(300)
    assert (await api.hold(other, show, seat_number=1)).status_code == 201
    r = await api.pay_order(fan, placed["orderId"])
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")
    assert await api.balance(fan) == 50_000
    r = await api.client.get(f"/api/v1/orders/{placed['orderId']}", headers=fan.access)
    assert r.json()["status"] == "EXPIRED"


async def test_a_retried_order_payment_replays_and_a_second_one_is_refused(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=50_000)
    assert (await api.hold(fan, show, seat_number=9)).status_code == 201  # keeps the token
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    first = await api.pay_order(fan, placed["orderId"], key="order-1")
    again = await api.pay_order(fan, placed["orderId"], key="order-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    r = await api.pay_order(fan, placed["orderId"])
    assert (r.status_code, r.json()["code"]) == (409, "already_paid")
    assert await api.balance(fan) == 30_000


async def test_releasing_an_order_frees_every_seat_and_a_paid_one_stays(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=50_000)
    assert (await api.hold(fan, show, seat_number=9)).status_code == 201  # keeps the token
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    url = f"/api/v1/orders/{placed['orderId']}"
    assert (await api.client.delete(url, headers=fan.queue)).status_code == 204
    assert (await api.client.delete(url, headers=fan.queue)).status_code == 204
    states = await _seat_states(api, fan, show)
    assert (states[1], states[2]) == ("AVAILABLE", "AVAILABLE")
    assert (await api.client.get(url, headers=fan.access)).json()["status"] == "CANCELLED"
    paid = (await api.order(fan, show, seat_numbers=[3, 4])).json()
    assert (await api.pay_order(fan, paid["orderId"])).status_code == 201
    r = await api.client.delete(f"/api/v1/orders/{paid['orderId']}", headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (409, "already_paid")


async def test_seats_of_a_paid_order_are_refunded_one_by_one(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=20_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    assert (await api.pay_order(fan, placed["orderId"])).status_code == 201
    url = f"/api/v1/orders/{placed['orderId']}"
    first, second = (s["reservationId"] for s in placed["reservations"])
    assert (await api.refund(fan, first)).status_code == 200
    assert (await api.client.get(url, headers=fan.access)).json()["status"] == "CONFIRMED"
    assert (await api.refund(fan, second)).status_code == 200
    assert (await api.client.get(url, headers=fan.access)).json()["status"] == "REFUNDED"
    assert await api.balance(fan) == 20_000


async def test_my_tickets_say_where_each_seat_is_and_its_order(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=20_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    assert (await api.pay_order(fan, placed["orderId"])).status_code == 201
    items = (await api.client.get("/api/v1/reservations", headers=fan.access)).json()["items"]
    assert {i["orderId"] for i in items} == {placed["orderId"]}
    assert {(i["section"], i["row"], i["grade"], i["venue"]) for i in items} == {
        ("Floor", "1", "General", "Hall")
    }
    assert sorted(i["label"] for i in items) == ["1", "2"]
    assert {i["timeZone"] for i in items} == {"Asia/Seoul"}


async def test_a_seat_of_an_order_is_not_paid_alone(api: Api) -> None:
    show = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=50_000)
    placed = (await api.order(fan, show, seat_numbers=[1, 2])).json()
    first = placed["reservations"][0]["reservationId"]
    r = await api.pay(fan, first)
    assert (r.status_code, r.json()["code"]) == (409, "part_of_order")
    assert str(placed["orderId"]) in r.json()["detail"]
    assert await api.balance(fan) == 50_000
    assert sorted(await _live_holds(api, fan)) == [1, 2]
    assert (await api.pay_order(fan, placed["orderId"])).status_code == 201
    assert await api.balance(fan) == 30_000


async def test_each_seat_of_a_paid_order_has_its_own_ledger_entry(api: Api) -> None:
    cheap = await api.make_show(price=10_000)
    fan = await api.admitted_fan(balance=100_000)
    r = await api.client.post(
        f"/api/v1/admin/concerts/{cheap.concert_id}/schedules",
        json={
            "concertAt": (api.clock.now + timedelta(days=9)).isoformat(),
            "grades": [{"grade": "VIP", "price": 30_000}, {"grade": "A", "price": 7_000}],
            "sections": [
                {"section": "Floor", "rows": [{"row": "A", "seats": 2, "grade": "VIP"}]},
                {"section": "Balcony", "rows": [{"row": "A", "seats": 2, "grade": "A"}]},
            ],
        },
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    dear = Show(cheap.concert_id, r.json()["scheduleId"], [], 0)
    placed = (await api.order(fan, dear, seat_numbers=[1, 3])).json()
    assert placed["total"] == 37_000
    paid = (await api.pay_order(fan, placed["orderId"])).json()
    assert (paid["amount"], paid["balance"]) == (37_000, 63_000)
    ledger = (await api.client.get("/api/v1/wallet/transactions", headers=fan.access)).json()
    entries = {(e["amount"], e["balanceAfter"]) for e in ledger["items"] if e["type"] == "PAYMENT"}
    # Sold in seat order: the VIP seat first, then the balcony seat, each its price.
    assert entries == {(-30_000, 70_000), (-7_000, 63_000)}
