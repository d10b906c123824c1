"""Catalog reads for fans and edits for operators."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from boxoffice.config import Settings
from tests.support import Api, FakeClock, running_api


async def test_the_concert_list_is_public(api: Api) -> None:
    show = await api.make_show(title="Aurora")
    r = await api.client.get("/api/v1/concerts")
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {
                "concertId": show.concert_id,
                "title": "Aurora",
                "venue": "Hall",
                "timeZone": "Asia/Seoul",
            }
        ]
    }


async def test_only_bookable_schedules_are_listed_with_seat_counts(api: Api) -> None:
    show = await api.make_show(in_days=2)
    soon = api.clock.now + timedelta(hours=1)
    r = await api.client.post(
        f"/api/v1/admin/concerts/{show.concert_id}/schedules",
        json={"concertAt": soon.isoformat(), "seatCount": 10, "price": 5},
        headers=api.admin,
    )
    soon_id = r.json()["scheduleId"]
    fan = await api.admitted_fan()
    await api.hold(fan, show, seat_number=3)
    listed = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules", headers=fan.queue
    )
    assert listed.status_code == 200
    rows = {s["scheduleId"]: s for s in listed.json()["schedules"]}
    assert rows[show.schedule_id]["totalSeats"] == 50
    assert rows[show.schedule_id]["availableSeats"] == 49
    assert soon_id in rows

    api.clock.advance(2 * 3600)  # the early show has started: no longer bookable
    fan = await api.admitted_fan()
    listed = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules", headers=fan.queue
    )
    assert [s["scheduleId"] for s in listed.json()["schedules"]] == [show.schedule_id]


async def test_schedules_can_be_filtered_by_date(api: Api) -> None:
    show = await api.make_show(in_days=3)
    fan = await api.admitted_fan()
    day = (api.clock.now + timedelta(days=3)).date()
    url = f"/api/v1/concerts/{show.concert_id}/schedules"
    on_day = await api.client.get(url, params={"date": day.isoformat()}, headers=fan.queue)
    assert [s["scheduleId"] for s in on_day.json()["schedules"]] == [show.schedule_id]
    other = await api.client.get(
        url, params={"date": (day + timedelta(days=1)).isoformat()}, headers=fan.queue
    )
    assert other.json()["schedules"] == []
    bad = await api.client.get(url, params={"date": "2026-13-45"}, headers=fan.queue)
    assert bad.status_code == 422


async def test_the_seat_map_derives_each_seat_state(api: Api) -> None:
    show = await api.make_show(seats=5, price=7_000)
    buyer = await api.admitted_fan(balance=7_000)
    other = await api.admitted_fan()
    sold = (await api.hold(buyer, show, seat_number=1)).json()
    await api.hold(other, show, seat_number=2)
    assert (await api.pay(buyer, sold["reservationId"])).status_code == 201

    viewer = await api.admitted_fan()
    r = await api.seats(viewer, show)
    body = r.json()
    assert body["totalSeats"] == 5
    assert body["availableSeats"] == 3
    assert body["concertId"] == show.concert_id
    assert [(s["seatNumber"], s["status"], s["price"]) for s in body["seats"]] == [
        (1, "SOLD", 7_000),
        (2, "HELD", 7_000),
        (3, "AVAILABLE", 7_000),
        (4, "AVAILABLE", 7_000),
        (5, "AVAILABLE", 7_000),
    ]
    only = (await api.seats(viewer, show, status="AVAILABLE")).json()["seats"]
    assert [s["seatNumber"] for s in only] == [3, 4, 5]


async def test_unknown_concerts_and_schedules_are_404(api: Api) -> None:
    show = await api.make_show()
    other = await api.make_show()
    fan = await api.admitted_fan()
    r = await api.client.get("/api/v1/concerts/9999/schedules", headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")
    r = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules/{other.schedule_id}/seats", headers=fan.queue
    )
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")
    r = await api.client.get(
        f"/api/v1/concerts/9999/schedules/{show.schedule_id}/seats", headers=fan.queue
    )
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")
    r = await api.client.post(
        "/api/v1/admin/concerts/9999/schedules",
        json={"concertAt": "2030-01-01T19:00:00Z", "price": 1},
        headers=api.admin,
    )
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")


async def test_a_malformed_seat_map_request_is_refused_before_the_gate(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    good = f"/api/v1/concerts/{show.concert_id}/schedules/{show.schedule_id}/seats"
    for concert, schedule in (
        ("0", show.schedule_id),
        ("-1", show.schedule_id),
        ("abc", show.schedule_id),
        ("١٢", show.schedule_id),  # digits, but not ASCII ones
        (show.concert_id, str(2**63)),
        (show.concert_id, "1e3"),
    ):
        url = f"/api/v1/concerts/{concert}/schedules/{schedule}/seats"
        for headers in (fan.queue, {}):  # the shape is checked before the credential
            r = await api.client.get(url, headers=headers)
            assert (r.status_code, r.json()["code"]) == (422, "validation_error"), url
    r = await api.client.get(good, params={"status": "GONE"}, headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert "AVAILABLE, HELD, SOLD" in r.json()["detail"]
    r = await api.client.get(good, params={"status": "SOLD"}, headers={})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
    r = await api.client.get(f"/api/v1/concerts/{2**63 - 1}/schedules/1/seats", headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")


async def test_an_operator_creates_a_schedule_of_numbered_seats(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/admin/concerts", json={"title": "Night", "venue": "Dome"}, headers=api.admin
    )
    assert r.status_code == 201
    concert_id = r.json()["concertId"]
    r = await api.client.post(
        f"/api/v1/admin/concerts/{concert_id}/schedules",
        json={"concertAt": "2030-01-01T20:00:00+09:00", "price": 40_000},
        headers=api.admin,
    )
    assert r.status_code == 201
    assert r.json() == {
        "scheduleId": r.json()["scheduleId"],
        "concertId": concert_id,
        "concertAt": "2030-01-01T11:00:00Z",
        "totalSeats": 50,
        "availableSeats": 50,
        "grades": [{"grade": "General", "price": 40_000, "availableSeats": 50}],
    }


async def test_bad_catalog_input_is_refused(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/admin/concerts", json={"title": "", "venue": "v"}, headers=api.admin
    )
    assert r.status_code == 422
    show = await api.make_show()
    url = f"/api/v1/admin/concerts/{show.concert_id}/schedules"
    for body in (
        {"concertAt": "2030-01-01T20:00:00", "price": 1},  # no offset
        {"concertAt": "2030-01-01T20:00:00Z", "price": -1},
        {"concertAt": "2030-01-01T20:00:00Z", "price": 1, "seatCount": 0},
        {"concertAt": "2030-01-01T20:00:00Z", "price": 1, "seatCount": 10**9},
        {"concertAt": "yesterday", "price": 1},
    ):
        r = await api.client.post(url, json=body, headers=api.admin)
        assert r.status_code == 422, body


async def test_a_fans_own_writes_show_in_the_next_read_from_the_same_instance(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(seat_map_cache_ms=1000), clock) as api:
        show = await api.make_show(seats=3)
        fan = await api.admitted_fan(balance=show.price)
        url = f"/api/v1/concerts/{show.concert_id}/schedules"

        async def seen() -> tuple[str, int]:
            seat_map = (await api.seats(fan, show)).json()
            listing = (await api.client.get(url, headers=fan.queue)).json()
            first = next(s for s in seat_map["seats"] if s["seatNumber"] == 1)
            return first["status"], listing["schedules"][0]["availableSeats"]

        assert await seen() == ("AVAILABLE", 3)  # both cached from here on
        rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
        assert await seen() == ("HELD", 2)
        await api.client.delete(f"/api/v1/reservations/{rid}", headers=fan.queue)
        assert await seen() == ("AVAILABLE", 3)
        rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
        await api.hold(fan, show, seat_number=2)  # a second hold keeps the token live
        assert (await api.pay(fan, rid)).status_code == 201
        assert await seen() == ("SOLD", 1)


async def test_another_instances_writes_may_lag_by_the_cache_time_but_holds_do_not(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(seat_map_cache_ms=1000)
    async with running_api(settings, clock) as here, running_api(settings, clock) as there:
        show = await here.make_show(seats=3)
        mine, theirs = await here.admitted_fan(), await there.admitted_fan()
        url = f"/api/v1/concerts/{show.concert_id}/schedules"
        before = (await here.seats(mine, show)).json()
        listed = (await here.client.get(url, headers=mine.queue)).json()
        assert before["availableSeats"] == listed["schedules"][0]["availableSeats"] == 3
        assert (await there.hold(theirs, show, seat_number=1)).status_code == 201
        assert (await here.seats(mine, show)).json() == before  # cached, up to a second old
        assert (await here.client.get(url, headers=mine.queue)).json() == listed
        r = await here.hold(mine, show, seat_number=1)
        assert (r.status_code, r.json()["code"]) == (409, "seat_unavailable")
        r = await here.client.get("/api/v1/concerts/9999/schedules", headers=mine.queue)
        assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")
        await asyncio.sleep(1.05)
        assert (await here.seats(mine, show)).json()["availableSeats"] == 2
        fresh = (await here.client.get(url, headers=mine.queue)).json()
        assert (fresh["schedules"][0]["availableSeats"], fresh["concertId"]) == (
            2,
            show.concert_id,
        )
