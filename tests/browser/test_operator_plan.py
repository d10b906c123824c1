"""The control room makes a date from a seat plan: grades and their prices, sections
with their rows written one line for many, checked on the page before the server."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server
from tests.support import ADMIN_TOKEN

TITLE = "Plan Night"

# What the page says and is labelled with, in each language.
WORDS = {
    "en": {
        "locale": "en-US",
        "token": "Operator token",
        "continue": "Continue",
        "concert": "Concert",
        "when": "Date and time (local time at the show)",
        "plan": "Seat plan (grades, sections, rows)",
        "add": "Add date",
        "remove": "Remove: {}",
        "grade": "Grade {}",
        "price": "Price of grade {}",
        "section": "Section {}",
        "sectionName": "Name of section {}",
        "rows": "Rows, line {}",
        "perRow": "Per row, line {}",
        "rowGrade": "Grade, line {}",
        "line": "Line {}",
        "example": "360 seats · 48,840,000 points if all sell",
        "total": "12 seats · 1,620,000 points if all sell",
        "unknown": "Balcony, rows 1,2: grade “S” is not one of the grades.",
        "server": "Something in what you entered is not right.",
        "added": "12 seats",
    },
    "ko": {
        "locale": "ko-KR",
        "token": "운영자 토큰",
        "continue": "계속",
        "concert": "공연",
        "when": "날짜와 시각(공연 현지 시각)",
        "plan": "좌석 배치도 (등급, 구역, 열)",
        "add": "날짜 추가",
        "remove": "삭제: {}",
        "grade": "{}번째 등급",
        "price": "{}번째 등급 가격",
        "section": "{}번째 구역",
        "sectionName": "{}번째 구역 이름",
        "rows": "{}번째 줄 열",
        "perRow": "{}번째 줄 열당 좌석",
        "rowGrade": "{}번째 줄 등급",
        "line": "{}번째 줄",
        "example": "360석 · 전석 판매 시 48,840,000포인트",
        "total": "12석 · 전석 판매 시 1,620,000포인트",
        "unknown": "Balcony, 1,2열: “S” 등급이 목록에 없습니다.",
        "server": "입력한 내용",
        "added": "12석",
    },
}


async def schedules_of(server: Server, concert_id: int) -> list[dict[str, Any]]:
    r = await server.api.client.get("/api/v1/admin/sales", headers=server.api.admin)
    concert = next(c for c in r.json()["concerts"] if c["concertId"] == concert_id)
    return list(concert["schedules"])


async def picture(page: Page, name: str) -> None:
    """With BOXOFFICE_SCREENSHOTS set to a folder, the new-date form as NAME.png."""
    folder = os.environ.get("BOXOFFICE_SCREENSHOTS")
    if folder:
        path = Path(folder) / f"{name}.png"
        await page.locator("#schedule-form").screenshot(path=str(path))


@pytest.mark.parametrize("lang", ["en", "ko"])
async def test_the_operator_adds_a_date_from_a_seat_plan_and_fans_see_it_seat_by_seat(
    start_server: Callable[..., Server], pages: Pages, lang: str
) -> None:
    words = WORDS[lang]

    def w(key: str, *n: object) -> str:
        return words[key].format(*n)

    server = start_server()
    made = await server.api.client.post(
        "/api/v1/admin/concerts",
        json={"title": TITLE, "venue": "Hall", "timeZone": "Asia/Seoul"},
        headers=server.api.admin,
    )
    concert_id = made.json()["concertId"]

    room = await pages.open(server, "/operator", name="operator", locale=words["locale"])
    room.expect(422, f"/api/v1/admin/concerts/{concert_id}/schedules")
    page = room.page
    await page.get_by_label(words["token"]).fill(ADMIN_TOKEN)
    await page.get_by_role("button", name=words["continue"]).click()
    await page.get_by_label(words["concert"], exact=True).select_option(label=TITLE)
    await page.get_by_label(words["when"]).fill("2030-05-01T20:00")

    # The plan editor opens on an example: two floor sections and a balcony, four grades.
    await expect(page.locator("#plan")).to_be_hidden()
    await page.get_by_label(words["plan"]).check()
    form = page.locator("#plan")
    await expect(form).to_be_visible()
    summary = page.locator("#plan-summary")
    await expect(summary).to_contain_text(words["example"])
    await picture(page, f"operator-plan-{lang}-desktop")

    # Down to two grades and two sections, by keyboard-usable buttons.
    for name in (w("grade", 4), w("grade", 3), w("section", 2)):
        await form.get_by_role("button", name=w("remove", name), exact=True).click()
    await expect(form.locator("fieldset.plan-section")).to_have_count(2)
    await form.get_by_label(w("grade", 1), exact=True).fill("VIP")
    await form.get_by_label(w("price", 1), exact=True).fill("150000")
    await form.get_by_label(w("grade", 2), exact=True).fill("R")
    await form.get_by_label(w("price", 2), exact=True).fill("120000")
    sections = form.locator("fieldset.plan-section")
    floor, balcony = sections.nth(0), sections.nth(1)
    await floor.get_by_label(w("sectionName", 1)).fill("Floor")
    await floor.get_by_label(w("rows", 1), exact=True).fill("A-B")
    await floor.get_by_label(w("perRow", 1), exact=True).fill("3")
    await floor.get_by_label(w("rowGrade", 1), exact=True).fill("VIP")
    await floor.get_by_label(w("rows", 2), exact=True).fill("C")
    await floor.get_by_label(w("perRow", 2), exact=True).fill("2")
    await floor.get_by_label(w("rowGrade", 2), exact=True).fill("R")
    await balcony.get_by_role("button", name=w("remove", w("line", 2)), exact=True).click()
    await balcony.get_by_label(w("rows", 1), exact=True).fill("1,2")
    await balcony.get_by_label(w("perRow", 1), exact=True).fill("2")

    # The balcony's row still names grade S, no longer listed: refused on the page,
    # in its words, with the field to fix focused; nothing is sent.
    await page.get_by_role("button", name=words["add"]).click()
    await expect(page.locator("#notice")).to_have_text(words["unknown"])
    await expect(page.locator("#plan-problem")).to_have_text(words["unknown"])
    await expect(balcony.get_by_label(w("rowGrade", 1), exact=True)).to_be_focused()
    assert await schedules_of(server, concert_id) == []

    # A row name longer than the server takes is refused by the server: said, and
    # nothing created.
    await balcony.get_by_label(w("rowGrade", 1), exact=True).fill("R")
    await balcony.get_by_label(w("rows", 1), exact=True).fill("1,ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    await page.get_by_role("button", name=words["add"]).click()
    await expect(page.locator("#notice")).to_contain_text(words["server"])
    await expect(page.locator("#notice")).to_contain_text("row")
    assert await schedules_of(server, concert_id) == []

    await balcony.get_by_label(w("rows", 1), exact=True).fill("1,2")
    await expect(page.locator("#plan-problem")).to_have_text("")
    await expect(summary).to_contain_text(words["total"])
    await expect(summary.locator("dd").first).to_contain_text("900,000")  # VIP: 6 seats
    await page.get_by_role("button", name=words["add"]).click()
    await expect(page.locator("#notice")).to_contain_text(words["added"])

    [added] = await schedules_of(server, concert_id)
    assert (added["concertAt"], added["totalSeats"]) == ("2030-05-01T11:00:00Z", 12)
    fan = await server.api.admitted_fan()
    r = await server.api.client.get(
        f"/api/v1/concerts/{concert_id}/schedules/{added['scheduleId']}/seats", headers=fan.queue
    )
    assert r.status_code == 200, r.text
    seat_map = r.json()
    assert [(g["grade"], g["price"], g["availableSeats"]) for g in seat_map["grades"]] == [
        ("VIP", 150_000, 6),
        ("R", 120_000, 6),
    ]
    plan = [("Floor", "A", 3, "VIP"), ("Floor", "B", 3, "VIP"), ("Floor", "C", 2, "R")]
    plan += [("Balcony", "1", 2, "R"), ("Balcony", "2", 2, "R")]
    price = {"VIP": 150_000, "R": 120_000}
    expected = [
        (section, row, f"{row}-{n}", grade, price[grade])
        for section, row, seats, grade in plan
        for n in range(1, seats + 1)
    ]
    seats = seat_map["seats"]
    assert [s["seatNumber"] for s in seats] == list(range(1, 13))
    assert [(s["section"], s["row"], s["label"], s["grade"], s["price"]) for s in seats] == expected
