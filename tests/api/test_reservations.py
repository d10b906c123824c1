"""Holds: one winner per seat, lapsing at the exact instant, owner-only access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from boxoffice.config import Settings
from tests.support import Api, FakeClock, running_api


async def test_a_hold_by_seat_id_answers_the_whole_reservation(api: Api) -> None:
    show = await api.make_show(price=12_000, title="Aurora")
    fan = await api.admitted_fan()
    r = await api.hold(fan, show, seat_id=show.seat_ids[4])
    assert r.status_code == 201
    body = r.json()
    assert body["userId"] == fan.user_id
    assert body["concertId"] == show.concert_id
    assert body["concertTitle"] == "Aurora"
    assert body["scheduleId"] == show.schedule_id
    assert body["seatId"] == show.seat_ids[4]
    assert body["seatNumber"] == 5
    assert body["price"] == 12_000
    assert body["status"] == "HELD"
    held_until = datetime.fromisoformat(body["heldUntil"])
    assert (held_until - api.clock.now).total_seconds() == 300
    assert set(body) >= {"reservationId", "concertAt"}


async def test_a_held_seat_cannot_be_held_by_another(api: Api) -> None:
    show = await api.make_show()
    a, b = await api.admitted_fan(), await api.admitted_fan()
    assert (await api.hold(a, show, seat_number=1)).status_code == 201
    r = await api.hold(b, show, seat_number=1)
    assert (r.status_code, r.json()["code"]) == (409, "seat_unavailable")


async def test_a_lapsed_hold_frees_the_seat_at_the_exact_instant(api: Api) -> None:
    show = await api.make_show()
    a, b = await api.admitted_fan(), await api.admitted_fan()
    held = (await api.hold(a, show, seat_number=1)).json()
    api.clock.advance(299.999)
    assert (await api.hold(b, show, seat_number=1)).status_code == 409
    api.clock.advance(0.001)
    assert (await api.hold(b, show, seat_number=1)).status_code == 201
    mine = await api.client.get(f"/api/v1/reservations/{held['reservationId']}", headers=a.queue)
    assert mine.json()["status"] == "EXPIRED"
    r = await api.pay(a, held["reservationId"])
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")


async def test_releasing_a_hold_frees_the_seat_at_once(api: Api) -> None:
    show = await api.make_show()
    a, b = await api.admitted_fan(), await api.admitted_fan()
    held = (await api.hold(a, show, seat_number=1)).json()
    r = await api.client.delete(f"/api/v1/reservations/{held['reservationId']}", headers=a.queue)
    assert r.status_code == 204
    assert (await api.hold(b, show, seat_number=1)).status_code == 201
    mine = await api.client.get(f"/api/v1/reservations/{held['reservationId']}", headers=a.access)
    assert mine.json()["status"] == "CANCELLED"
    r = await api.pay(a, held["reservationId"])
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")


async def test_only_the_owner_sees_or_releases_a_reservation(api: Api) -> None:
    show = await api.make_show()
    owner, other = await api.admitted_fan(), await api.admitted_fan()
    rid = (await api.hold(owner, show, seat_number=1)).json()["reservationId"]
    for r in (
        await api.client.get(f"/api/v1/reservations/{rid}", headers=other.queue),
        await api.client.get(f"/api/v1/reservations/{rid}", headers=other.access),
        await api.client.delete(f"/api/v1/reservations/{rid}", headers=other.queue),
        await api.pay(other, rid),
    ):
        assert (r.status_code, r.json()["code"]) == (404, "reservation_not_found")
    assert (
        await api.client.get(f"/api/v1/reservations/{rid}", headers=owner.access)
    ).status_code == 200
    assert (
        await api.client.get(f"/api/v1/reservations/{rid}", headers=owner.queue)
    ).status_code == 200
    r = await api.client.get("/api/v1/reservations/424242", headers=owner.access)
    assert (r.status_code, r.json()["code"]) == (404, "reservation_not_found")


async def test_a_fan_may_hold_only_so_many_seats(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(max_holds_per_user=2), clock) as api:
        show = await api.make_show()
        fan = await api.admitted_fan()
        assert (await api.hold(fan, show, seat_number=1)).status_code == 201
        assert (await api.hold(fan, show, seat_number=2)).status_code == 201
        r = await api.hold(fan, show, seat_number=3)
        assert (r.status_code, r.json()["code"]) == (409, "hold_limit_reached")
        clock.advance(300)  # both lapse: the fan may hold again
        assert (await api.hold(fan, show, seat_number=3)).status_code == 201


async def test_unknown_schedules_and_seats_are_404(api: Api) -> None:
    show = await api.make_show(seats=10)
    other = await api.make_show(seats=10)
    fan = await api.admitted_fan()
    r = await api.client.post(
        "/api/v1/reservations", json={"scheduleId": 9999, "seatNumber": 1}, headers=fan.queue
    )
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")
    r = await api.hold(fan, show, seat_number=11)
    assert (r.status_code, r.json()["code"]) == (404, "seat_not_found")
    r = await api.hold(fan, show, seat_id=other.seat_ids[0])
    assert (r.status_code, r.json()["code"]) == (404, "seat_not_found")


async def test_a_past_schedule_cannot_be_held(api: Api) -> None:
    show = await api.make_show(in_days=1)
    api.clock.advance(86_400)
    fan = await api.admitted_fan()
    r = await api.hold(fan, show, seat_number=1)
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")


async def test_a_hold_names_exactly_one_seat(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    for body in (
        {"scheduleId": show.schedule_id},
        {"scheduleId": show.schedule_id, "seatId": show.seat_ids[0], "seatNumber": 1},
        {"scheduleId": show.schedule_id, "seatNumber": 0},
        {"scheduleId": show.schedule_id, "seatNumber": "1"},
        {"scheduleId": 2**70, "seatNumber": 1},
        {"seatNumber": 1},
        {"scheduleId": show.schedule_id, "seatNumber": 1, "userId": 5},
    ):
        r = await api.client.post("/api/v1/reservations", json=body, headers=fan.queue)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
