"""The whole fan flow over real HTTP, as the README walks it."""

from __future__ import annotations

from tests.support import Api


async def test_a_fan_registers_charges_queues_holds_and_pays(api: Api) -> None:
    show = await api.make_show(seats=50, price=30_000)
    fan = await api.register("Mina")

    charged = await api.charge(fan, 100_000, key="first-charge")
    assert charged.status_code == 200
    assert charged.json()["balance"] == 100_000

    joined = await api.join(fan)
    assert joined.status_code == 201
    assert joined.json()["status"] == "ADMITTED"
    assert joined.json()["position"] == 0

    schedules = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules", headers=fan.queue
    )
    assert schedules.status_code == 200
    assert [s["scheduleId"] for s in schedules.json()["schedules"]] == [show.schedule_id]

    held = await api.hold(fan, show, seat_number=7)
    assert held.status_code == 201, held.text
    reservation = held.json()
    assert reservation["status"] == "HELD"
    assert reservation["seatNumber"] == 7

    seat_map = (await api.seats(fan, show)).json()
    assert seat_map["availableSeats"] == 49
    assert {s["seatNumber"]: s["status"] for s in seat_map["seats"]}[7] == "HELD"

    paid = await api.pay(fan, reservation["reservationId"], key="pay-1")
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == 30_000
    assert paid.json()["balance"] == 70_000
    assert paid.json()["status"] == "COMPLETED"

    # The visit is over: the queue token is spent, the seat is sold, the ledger adds up.
    assert (await api.status(fan)).status_code == 401
    mine = await api.client.get(
        f"/api/v1/reservations/{reservation['reservationId']}", headers=fan.access
    )
    assert mine.json()["status"] == "CONFIRMED"
    ledger = (await api.client.get("/api/v1/wallet/transactions", headers=fan.access)).json()
    assert [(e["type"], e["amount"]) for e in ledger["items"]] == [
        ("PAYMENT", -30_000),
        ("CHARGE", 100_000),
    ]
    assert sum(e["amount"] for e in ledger["items"]) == await api.balance(fan)

    viewer = await api.admitted_fan(name="later")
    seat_map = (await api.seats(viewer, show)).json()
    assert {s["seatNumber"]: s["status"] for s in seat_map["seats"]}[7] == "SOLD"
