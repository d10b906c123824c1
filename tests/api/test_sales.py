"""The operator's sales view: every seat counted once as sold, held or available."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from boxoffice.http.schemas import utc_text
from tests.support import Api, Show

HOLD_SECONDS = 300  # the default BOXOFFICE_HOLD_SECONDS


async def _another_schedule(api: Api, show: Show, *, at: datetime, seats: int, price: int) -> Show:
    r = await api.client.post(
        f"/api/v1/admin/concerts/{show.concert_id}/schedules",
        json={"concertAt": at.isoformat(), "seatCount": seats, "price": price},
        headers=api.admin,
    )
    assert r.status_code == 201, r.text
    schedule_id = r.json()["scheduleId"]
    return Show(
        concert_id=show.concert_id,
        schedule_id=schedule_id,
        seat_ids=await api.admin_seat_ids(show.concert_id, schedule_id),
        price=price,
    )


async def _sales(api: Api) -> dict[str, Any]:
    r = await api.client.get("/api/v1/admin/sales", headers=api.admin)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_sold_held_available_and_revenue_are_counted_exactly(api: Api) -> None:
    start = api.clock.now
    first = await api.make_show(seats=5, price=1_000, title="Aurora")
    second = await _another_schedule(
        api, first, at=start + timedelta(days=40), seats=3, price=2_000
    )
    quiet = await api.make_show(seats=2, price=500, title="Quiet")

    lapsing = await api.admitted_fan()
    assert (await api.hold(lapsing, first, seat_number=3)).status_code == 201
    api.clock.advance(HOLD_SECONDS)  # that hold lapses at this very instant

    buyer = await api.admitted_fan(balance=10_000)
    paid = (await api.hold(buyer, first, seat_number=1)).json()["reservationId"]
    await api.hold(buyer, second, seat_number=2)  # keeps the token alive after both payments
    paid_too = (await api.hold(buyer, second, seat_number=1)).json()["reservationId"]
    assert (await api.pay(buyer, paid)).status_code == 201
    assert (await api.pay(buyer, paid_too)).status_code == 201

    holder = await api.admitted_fan()
    assert (await api.hold(holder, first, seat_number=2)).status_code == 201
    released = (await api.hold(holder, first, seat_number=4)).json()["reservationId"]
    r = await api.client.delete(f"/api/v1/reservations/{released}", headers=holder.queue)
    assert r.status_code == 204

    assert await _sales(api) == {
        "concerts": [
            {
                "concertId": first.concert_id,
                "title": "Aurora",
                "venue": "Hall",
                "sold": 2,
                "held": 2,
                "available": 4,
                "revenue": 3_000,
                "schedules": [
                    {
                        "scheduleId": first.schedule_id,
                        "concertAt": utc_text(start + timedelta(days=30)),
                        "totalSeats": 5,
                        "sold": 1,
                        "held": 1,
                        "available": 3,
                        "revenue": 1_000,
                        "cancelledAt": None,
                    },
                    {
                        "scheduleId": second.schedule_id,
                        "concertAt": utc_text(start + timedelta(days=40)),
                        "totalSeats": 3,
                        "sold": 1,
                        "held": 1,
                        "available": 1,
                        "revenue": 2_000,
                        "cancelledAt": None,
                    },
                ],
            },
            {
                "concertId": quiet.concert_id,
                "title": "Quiet",
                "venue": "Hall",
                "sold": 0,
                "held": 0,
                "available": 2,
                "revenue": 0,
                "schedules": [
                    {
                        "scheduleId": quiet.schedule_id,
                        "concertAt": utc_text(start + timedelta(days=30)),
                        "totalSeats": 2,
                        "sold": 0,
                        "held": 0,
                        "available": 2,
                        "revenue": 0,
                        "cancelledAt": None,
                    }
                ],
            },
        ]
    }


async def test_a_hold_counts_as_held_until_its_instant_and_then_as_available(api: Api) -> None:
    show = await api.make_show(seats=2, price=1_000)
    fan = await api.admitted_fan()
    assert (await api.hold(fan, show, seat_number=1)).status_code == 201

    def counts(body: dict[str, Any]) -> tuple[int, int, int]:
        s = body["concerts"][0]["schedules"][0]
        return s["sold"], s["held"], s["available"]

    api.clock.advance(HOLD_SECONDS - 1)
    assert counts(await _sales(api)) == (0, 1, 1)
    api.clock.advance(1)
    assert counts(await _sales(api)) == (0, 0, 2)


async def test_revenue_is_the_price_paid_once_whatever_the_retries(api: Api) -> None:
    show = await api.make_show(seats=3, price=7_000)
    fan = await api.admitted_fan(balance=20_000)
    rid = (await api.hold(fan, show, seat_number=2)).json()["reservationId"]
    assert (await api.pay(fan, rid, key="pay-once")).status_code == 201
    replayed = await api.pay(fan, rid, key="pay-once")
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    concert = (await _sales(api))["concerts"][0]
    assert (concert["sold"], concert["revenue"]) == (1, 7_000)


async def test_a_refunded_ticket_leaves_sold_and_revenue(api: Api) -> None:
    fan, show, rid = await api.bought(price=4_000)
    await api.bought(show=show, seat=2, name="keeps")
    schedule = (await _sales(api))["concerts"][0]["schedules"][0]
    assert (schedule["sold"], schedule["revenue"]) == (2, 8_000)
    assert (await api.refund(fan, rid)).status_code == 200
    concert = (await _sales(api))["concerts"][0]
    schedule = concert["schedules"][0]
    assert (schedule["sold"], schedule["available"], schedule["revenue"]) == (1, 49, 4_000)
    assert (concert["sold"], concert["revenue"]) == (1, 4_000)


async def test_a_cancelled_schedule_shows_when_and_sells_nothing_any_more(api: Api) -> None:
    start = api.clock.now
    _, show, _ = await api.bought(price=5_000)
    later = await _another_schedule(api, show, at=start + timedelta(days=60), seats=4, price=9_000)
    await api.bought(show=later, name="later")
    holder = await api.admitted_fan(name="holder")
    assert (await api.hold(holder, show, seat_number=3)).status_code == 201

    api.clock.advance(60)
    r = await api.client.post(
        f"/api/v1/admin/schedules/{show.schedule_id}/cancel", headers=api.admin
    )
    assert r.status_code == 200, r.text
    cancelled_at = utc_text(api.clock.now)
    api.clock.advance(60)
    again = await api.client.post(
        f"/api/v1/admin/schedules/{show.schedule_id}/cancel", headers=api.admin
    )
    assert again.status_code == 200, again.text

    concert = (await _sales(api))["concerts"][0]
    off, on = concert["schedules"]
    assert off == {
        "scheduleId": show.schedule_id,
        "concertAt": utc_text(start + timedelta(days=30)),
        "totalSeats": 50,
        "sold": 0,
        "held": 0,
        "available": 0,
        "revenue": 0,
        "cancelledAt": cancelled_at,  # the first cancellation's, however often asked
    }
    assert (on["sold"], on["held"], on["available"], on["revenue"], on["cancelledAt"]) == (
        1,
        0,
        3,
        9_000,
        None,
    )
    totals = (concert["sold"], concert["held"], concert["available"], concert["revenue"])
    assert totals == (1, 0, 3, 9_000)


async def test_a_concert_without_schedules_is_listed_with_nothing_to_sell(api: Api) -> None:
    assert await _sales(api) == {"concerts": []}
    r = await api.client.post(
        "/api/v1/admin/concerts", json={"title": "Soon", "venue": "Dome"}, headers=api.admin
    )
    concert_id = r.json()["concertId"]
    assert await _sales(api) == {
        "concerts": [
            {
                "concertId": concert_id,
                "title": "Soon",
                "venue": "Dome",
                "sold": 0,
                "held": 0,
                "available": 0,
                "revenue": 0,
                "schedules": [],
            }
        ]
    }


async def test_the_sales_view_is_for_the_operator_only(api: Api) -> None:
    fan = await api.register()
    for headers in ({}, fan.access, {"Authorization": "Bearer not-the-admin-token"}):
        r = await api.client.get("/api/v1/admin/sales", headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
    schema = (await api.client.get("/openapi.json")).json()
    assert "/api/v1/admin/sales" in schema["paths"]
