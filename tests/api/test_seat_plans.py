"""Seat plans and the venue's time zone: a schedule made from sections and rows of
graded seats, and the concert's IANA zone on every catalog read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import create_engine, insert

from boxoffice.catalog import service as catalog
from boxoffice.catalog.demo import load_demo
from boxoffice.config import Settings
from boxoffice.migrations import alembic_config
from boxoffice.storage.db import Database
from boxoffice.storage.tables import concerts as concerts_table
from boxoffice.storage.tables import schedules as schedules_table
from boxoffice.storage.tables import seats as seats_table
from tests.service.factories import NOW
from tests.support import Api, FakeClock, Show, running_api

# Seats 1-3 VIP (Floor A row A), 4-5 R (Floor A row B), 6-7 R (2F row A).
PLAN: dict[str, Any] = {
    "grades": [{"grade": "VIP", "price": 150_000}, {"grade": "R", "price": 100_000}],
    "sections": [
        {
            "section": "Floor A",
            "rows": [
                {"row": "A", "seats": 3, "grade": "VIP"},
                {"row": "B", "seats": 2, "grade": "R"},
            ],
        },
        {"section": "2F", "rows": [{"row": "A", "seats": 2, "grade": "R"}]},
    ],
}


async def make_concert(api: Api, **extra: Any) -> httpx.Response:
    return await api.client.post(
        "/api/v1/admin/concerts",
        json={"title": "Neon", "venue": "Olympic Hall", **extra},
        headers=api.admin,
    )


async def add_schedule(api: Api, concert_id: int, **body: Any) -> httpx.Response:
    concert_at = api.clock.now + timedelta(days=30)
    return await api.client.post(
        f"/api/v1/admin/concerts/{concert_id}/schedules",
        json={"concertAt": concert_at.isoformat(), **body},
        headers=api.admin,
    )


async def make_planned_show(api: Api, plan: dict[str, Any] = PLAN) -> Show:
    concert_id = (await make_concert(api)).json()["concertId"]
    r = await add_schedule(api, concert_id, **plan)
    assert r.status_code == 201, r.text
    schedule_id = r.json()["scheduleId"]
    seat_ids = await api.admin_seat_ids(concert_id, schedule_id)
    return Show(concert_id=concert_id, schedule_id=schedule_id, seat_ids=seat_ids, price=0)


def where(seat_map: dict[str, Any]) -> list[tuple[int, str, str, str, str, int]]:
    return [
        (s["seatNumber"], s["section"], s["row"], s["label"], s["grade"], s["price"])
        for s in seat_map["seats"]
    ]


def grades(body: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(g["grade"], g["price"], g["availableSeats"]) for g in body["grades"]]


async def test_a_plan_schedule_answers_with_its_grades_and_seat_count(api: Api) -> None:
    concert_id = (await make_concert(api)).json()["concertId"]
    r = await add_schedule(api, concert_id, **PLAN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["concertId"], body["totalSeats"], body["availableSeats"]) == (concert_id, 7, 7)
    assert grades(body) == [("VIP", 150_000, 3), ("R", 100_000, 4)]
    assert set(body) == {
        "scheduleId",
        "concertId",
        "concertAt",
        "totalSeats",
        "availableSeats",
        "grades",
    }


async def test_plan_seats_are_numbered_and_labelled_in_plan_order_priced_by_grade(
    api: Api,
) -> None:
    show = await make_planned_show(api)
    seat_map = (await api.seats(await api.admitted_fan(), show)).json()
    assert where(seat_map) == [
        (1, "Floor A", "A", "A-1", "VIP", 150_000),
        (2, "Floor A", "A", "A-2", "VIP", 150_000),
        (3, "Floor A", "A", "A-3", "VIP", 150_000),
        (4, "Floor A", "B", "B-1", "R", 100_000),
        (5, "Floor A", "B", "B-2", "R", 100_000),
        (6, "2F", "A", "A-1", "R", 100_000),
        (7, "2F", "A", "A-2", "R", 100_000),
    ]
    assert set(seat_map["seats"][0]) == {
        "seatId",
        "seatNumber",
        "price",
        "status",
        "section",
        "row",
        "label",
        "grade",
    }


async def test_grades_count_available_seats_whatever_the_status_filter(api: Api) -> None:
    show = await make_planned_show(api)
    fan = await api.admitted_fan()
    seat_map = (await api.seats(fan, show)).json()
    assert grades(seat_map) == [("VIP", 150_000, 3), ("R", 100_000, 4)]
    assert (await api.hold(fan, show, seat_number=2)).status_code == 201
    assert (await api.hold(fan, show, seat_number=6)).status_code == 201
    seat_map = (await api.seats(fan, show)).json()
    assert grades(seat_map) == [("VIP", 150_000, 2), ("R", 100_000, 3)]
    assert seat_map["availableSeats"] == 5
    held = (await api.seats(fan, show, status="HELD")).json()
    assert [s["label"] for s in held["seats"]] == ["A-2", "A-1"]
    assert grades(held) == grades(seat_map)  # the filter narrows the seats only
    assert held["availableSeats"] == 5

    api.clock.advance(301)  # the holds lapse: the seats count as available again
    fan = await api.admitted_fan()
    assert grades((await api.seats(fan, show)).json()) == [("VIP", 150_000, 3), ("R", 100_000, 4)]


async def test_a_vip_seat_is_held_and_paid_at_the_vip_price(api: Api) -> None:
    show = await make_planned_show(api)
    fan = await api.admitted_fan(balance=200_000)
    vip = await api.hold(fan, show, seat_number=1)
    r_seat = await api.hold(fan, show, seat_number=4)
    assert (vip.status_code, r_seat.status_code) == (201, 201), (vip.text, r_seat.text)
    assert (vip.json()["price"], r_seat.json()["price"]) == (150_000, 100_000)
    paid = await api.pay(fan, vip.json()["reservationId"])
    assert paid.status_code == 201, paid.text
    assert (paid.json()["amount"], paid.json()["balance"]) == (150_000, 50_000)
    assert await api.balance(fan) == 50_000


async def test_the_simple_form_is_one_section_of_one_grade(api: Api) -> None:
    show = await api.make_show(seats=3, price=7_000)
    seat_map = (await api.seats(await api.admitted_fan(), show)).json()
    assert where(seat_map) == [
        (1, "Floor", "1", "1", "General", 7_000),
        (2, "Floor", "1", "2", "General", 7_000),
        (3, "Floor", "1", "3", "General", 7_000),
    ]
    assert grades(seat_map) == [("General", 7_000, 3)]
    assert seat_map["holdLimit"] == 4  # MAX_HOLDS_PER_USER's default
    r = await add_schedule(api, show.concert_id, price=5)  # seatCount left out: 50
    assert (r.json()["totalSeats"], grades(r.json())) == (50, [("General", 5, 50)])


def _plan(**changes: Any) -> dict[str, Any]:
    return {**PLAN, **changes}


def _rows(*rows: dict[str, Any], section: str = "Floor") -> list[dict[str, Any]]:
    return [{"section": section, "rows": list(rows)}]


VIP = [{"grade": "VIP", "price": 1}]
BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({**PLAN, "price": 1}, "not both"),
    ({**PLAN, "seatCount": 5}, "not both"),
    ({"grades": PLAN["grades"]}, "needs both grades and sections"),
    ({"sections": PLAN["sections"]}, "needs both grades and sections"),
    ({"seatCount": 5}, "price is required"),
    ({}, "price is required"),
    (_plan(grades=[]), "grades: List should have at least 1 item"),
    (_plan(sections=[]), "sections: List should have at least 1 item"),
    (_plan(sections=[{"section": "Floor", "rows": []}]), "rows: List should have at least 1"),
    (_plan(grades=[*PLAN["grades"], {"grade": "VIP", "price": 5}]), "grade 'VIP' is listed more"),
    (_plan(grades=[{"grade": "VIP", "price": 1}]), "grade 'R', which is not one of the plan"),
    (
        _plan(sections=[*PLAN["sections"], {"section": "2F", "rows": PLAN["sections"][1]["rows"]}]),
        "section '2F' is listed more than once",
    ),
    (
        _plan(grades=VIP, sections=_rows(*[{"row": "A", "seats": 1, "grade": "VIP"}] * 2)),
        "row 'A' of section 'Floor' is listed more than once",
    ),
    (_plan(grades=VIP, sections=_rows({"row": "A", "seats": 0, "grade": "VIP"})), "seats"),
    (_plan(grades=VIP, sections=_rows({"row": "A", "seats": 1001, "grade": "VIP"})), "seats"),
    (_plan(grades=VIP, sections=_rows({"row": "A", "seats": "3", "grade": "VIP"})), "seats"),
    (
        _plan(
            grades=VIP,
            sections=_rows(*[{"row": f"R{n}", "seats": 1000, "grade": "VIP"} for n in range(11)]),
        ),
        "the plan has 11000 seats; a schedule has 1 to 10000",
    ),
    (
        _plan(
            grades=VIP, sections=_rows({"row": "A", "seats": 1, "grade": "VIP"}, section="x" * 41)
        ),
        "section",
    ),
    (_plan(grades=VIP, sections=_rows({"row": "A" * 21, "seats": 1, "grade": "VIP"})), "row"),
    (_plan(grades=[{"grade": "G" * 21, "price": 1}]), "grade"),
    (_plan(grades=VIP, sections=_rows({"row": "  ", "seats": 1, "grade": "VIP"})), "row"),
    (
        _plan(grades=VIP, sections=_rows({"row": "A", "seats": 1, "grade": "VIP"}, section="\x00")),
        "control characters",
    ),
    (_plan(grades=[{"grade": "VIP", "price": -1}]), "price"),
    (_plan(grades=[{"grade": "VIP"}]), "price"),
    (_plan(grades=VIP, sections=_rows({"row": "A", "seats": 1, "grade": "VIP", "x": 1})), "x"),
]


async def test_every_malformed_schedule_is_refused_with_its_reason(api: Api) -> None:
    concert_id = (await make_concert(api)).json()["concertId"]
    for body, reason in BAD_SCHEDULES:
        r = await add_schedule(api, concert_id, **body)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
        assert reason in r.json()["detail"], (reason, r.json()["detail"])
    fan = await api.admitted_fan()
    listed = await api.client.get(f"/api/v1/concerts/{concert_id}/schedules", headers=fan.queue)
    assert listed.json()["schedules"] == []  # nothing half made


async def test_names_are_trimmed_and_a_grade_may_have_no_seats_yet(api: Api) -> None:
    plan = {
        "grades": [{"grade": " VIP ", "price": 9}, {"grade": "Box", "price": 99}],
        "sections": [
            {"section": " Floor A ", "rows": [{"row": " A ", "seats": 1, "grade": "VIP"}]}
        ],
    }
    show = await make_planned_show(api, plan)
    seat_map = (await api.seats(await api.admitted_fan(), show)).json()
    assert where(seat_map) == [(1, "Floor A", "A", "A-1", "VIP", 9)]
    assert grades(seat_map) == [("VIP", 9, 1), ("Box", 99, 0)]


async def test_a_concert_has_the_default_time_zone_unless_it_names_one(api: Api) -> None:
    r = await make_concert(api)
    assert r.status_code == 201
    assert r.json() == {
        "concertId": r.json()["concertId"],
        "title": "Neon",
        "venue": "Olympic Hall",
        "timeZone": "Asia/Seoul",
    }
    r = await make_concert(api, timeZone="Europe/Paris")
    assert (r.status_code, r.json()["timeZone"]) == (201, "Europe/Paris")
    items = (await api.client.get("/api/v1/concerts")).json()["items"]
    assert [c["timeZone"] for c in items] == ["Asia/Seoul", "Europe/Paris"]


BAD_ZONES = [
    "Mars/Olympus",
    "",
    "asia/seoul",
    "Asia/../Asia/Seoul",
    "/etc/localtime",
    "localtime",
    "Asia",
    " Asia/Seoul",
    "Asia/Seoul\x00",
    "A" * 65,
    9,
]


async def test_an_unknown_time_zone_is_refused(api: Api) -> None:
    for zone in BAD_ZONES:
        r = await make_concert(api, timeZone=zone)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), zone
        assert "timeZone" in r.json()["detail"], r.json()["detail"]
    r = await make_concert(api, timeZone=None)  # null: as if left out
    assert (r.status_code, r.json()["timeZone"]) == (201, "Asia/Seoul")
    assert (await api.client.get("/api/v1/concerts")).json()["items"] == [r.json()]


async def test_listing_and_seat_map_carry_the_time_zone_and_venue(api: Api) -> None:
    r = await make_concert(api, timeZone="America/New_York")
    concert_id = r.json()["concertId"]
    schedule_id = (await add_schedule(api, concert_id, **PLAN)).json()["scheduleId"]
    fan = await api.admitted_fan()
    url = f"/api/v1/concerts/{concert_id}/schedules"
    listing = (await api.client.get(url, headers=fan.queue)).json()
    assert (listing["concertId"], listing["timeZone"]) == (concert_id, "America/New_York")
    assert [s["scheduleId"] for s in listing["schedules"]] == [schedule_id]
    seat_map = (await api.client.get(f"{url}/{schedule_id}/seats", headers=fan.queue)).json()
    assert (seat_map["timeZone"], seat_map["venue"]) == ("America/New_York", "Olympic Hall")
    empty = (await make_concert(api)).json()["concertId"]
    listing = await api.client.get(f"/api/v1/concerts/{empty}/schedules", headers=fan.queue)
    assert listing.json() == {"concertId": empty, "timeZone": "Asia/Seoul", "schedules": []}


async def test_the_default_time_zone_is_a_setting(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(default_time_zone="Europe/London"), clock) as api:
        r = await make_concert(api)
        assert r.json()["timeZone"] == "Europe/London"


def test_an_unknown_default_time_zone_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="default_time_zone"):
        Settings(default_time_zone="Europe/Atlantis")
    assert Settings(default_time_zone="UTC").default_time_zone == "UTC"


async def test_the_demo_has_one_simple_concert_and_two_planned_ones_in_seoul(db: Database) -> None:
    assert await load_demo(db=db, now=NOW) == 12
    concerts = await catalog.list_concerts(db=db)
    assert {c.time_zone for c in concerts} == {"Asia/Seoul"}
    found = []
    for concert in concerts:
        [first, *_] = (
            await catalog.bookable_schedules(db=db, concert_id=concert.concert_id, on=None, now=NOW)
        ).schedules
        seat_map = await catalog.seat_map(
            db=db, concert_id=concert.concert_id, schedule_id=first.schedule_id, only=None, now=NOW
        )
        found.append(
            (concert.title, len(seat_map.seats), [(g.grade, g.price) for g in seat_map.grades])
        )
    assert found == [
        ("Aurora Strings: Winter Nights", 50, [("General", 30_000)]),
        ("The Midnight Brass", 152, [("R", 99_000), ("S", 77_000), ("A", 55_000)]),
        (
            "Neon Harbor Live",
            232,
            [("VIP", 154_000), ("R", 132_000), ("S", 110_000), ("A", 88_000)],
        ),
    ]


async def test_schedules_made_before_seat_plans_become_one_floor_of_one_grade(
    tmp_path: Path,
) -> None:
    """Migration 0009 on a database that already sells: each schedule's seats keep their
    price as grade General, in section Floor, row 1, labelled by their numbers."""
    url = f"sqlite:///{tmp_path}/old.db"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(concerts_table).values(id=1, title="Old", venue="Hall"))
        conn.execute(
            insert(schedules_table).values(id=1, concert_id=1, concert_at=NOW + timedelta(days=3))
        )
        conn.execute(
            insert(seats_table),
            [{"schedule_id": 1, "seat_number": n, "price": 9_000} for n in (1, 2)],
        )
    engine.dispose()
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    db = Database(url)
    try:
        [concert] = await catalog.list_concerts(db=db)
        seat_map = await catalog.seat_map(db=db, concert_id=1, schedule_id=1, only=None, now=NOW)
    finally:
        await db.dispose()
    assert concert.time_zone == "Asia/Seoul"
    assert [(s.section, s.row, s.label, s.grade, s.price) for s in seat_map.seats] == [
        ("Floor", "1", "1", "General", 9_000),
        ("Floor", "1", "2", "General", 9_000),
    ]
    assert [(g.grade, g.price, g.available_seats) for g in seat_map.grades] == [
        ("General", 9_000, 2)
    ]
