"""A concert's time is read on the venue's clock, wherever the reader is: a 19:00 show
in Seoul says 19:00 KST in a New York browser too, in both languages, on the fan's
ticket and in the control room; and a time the operator types is read on the venue's
clock as well. A ticket can be shown: a card per seat, printed alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server, Watched
from tests.browser.steps import AURORA, buy, join, open_first_date, sign_in, stored
from tests.browser.test_operator import operator_signs_in
from tests.support import ADMIN_TOKEN

SEOUL, NEW_YORK = "Asia/Seoul", "America/New_York"
SHORT = {SEOUL: "KST"}  # Intl's own short name for Seoul is "GMT+9"
KO_DAYS = "월화수목금토일"


def venue_time(iso: str, language: str, zone: str = SEOUL) -> str:
    """What the pages show for the instant iso on zone's clock: "Mon, Dec 14, 7:00 PM
    KST", "12월 14일 (월) 오후 7:00 KST"; the year only when it is not this one."""
    at = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    other_year = at.year != datetime.now(ZoneInfo(zone)).year
    hour, name = at.hour % 12 or 12, SHORT.get(zone) or at.tzname()
    if language == "ko":
        year = f"{at.year}년 " if other_year else ""
        noon = "오전" if at.hour < 12 else "오후"
        return (
            f"{year}{at.month}월 {at.day}일 ({KO_DAYS[at.weekday()]}) {noon} {hour}:{at:%M} {name}"
        )
    year = f", {at.year}" if other_year else ""
    return (
        f"{at:%a}, {at:%b} {at.day}{year}, {hour}:{at:%M} {'AM' if at.hour < 12 else 'PM'} {name}"
    )


async def open_in(
    pages: Pages,
    server: Server,
    zone: str,
    path: str = "/",
    *,
    name: str = "fan",
    locale: str = "en-US",
) -> Watched:
    """Pages.open with a browser in the given time zone."""
    return await pages.open(server, path, name=name, locale=locale, timezone_id=zone)


async def sales(server: Server) -> list[dict[str, Any]]:
    r = await server.api.client.get("/api/v1/admin/sales", headers=server.api.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["concerts"])


async def buy_seven(page: Page) -> int:
    """A guest charges and buys seat 7 of Aurora's first date; the reservation."""
    await sign_in(page, "Mina")
    await page.get_by_role("button", name="Charge 50,000 points").click()
    await expect(page.locator("#balance")).to_have_text("50,000 points")
    return await buy(page, AURORA, seat_number=7, price="30,000 points")


@pytest.mark.parametrize("zone", [NEW_YORK, SEOUL])
async def test_a_ticket_shows_the_show_on_the_venues_clock_with_its_booking_number_and_seat(
    start_server: Callable[..., Server], pages: Pages, zone: str
) -> None:
    server = start_server()
    concert_at = (await sales(server))[0]["schedules"][0]["concertAt"]
    assert concert_at.endswith("T10:00:00Z")  # 19:00 in Seoul
    fan = await open_in(pages, server, zone)
    page = fan.page
    reservation = await buy_seven(page)

    card = page.locator("#ticket-facts .ticket-card")
    await expect(card).to_have_count(1)
    order = (await stored(page, "ticket")).get("orderId")
    number = f"BX-{order:06d}" if order else f"BX-R{reservation:06d}"
    await expect(card.locator('[data-field="booking"]')).to_have_text(number)
    await expect(card.get_by_role("heading", name=AURORA)).to_be_visible()
    fields = {
        "venueLabel": "Seoul Arts Center",
        "date": venue_time(concert_at, "en"),
        "section": "Floor",
        "row": "1",
        "seat": "7",
        "grade": "General",
        "price": "30,000 points",
        "status": "Paid",
    }
    for field, text in fields.items():
        await expect(card.locator(f'[data-field="{field}"]')).to_have_text(text)
    await expect(page.locator("#ticket-facts")).to_contain_text("20,000 points")  # balance left

    await page.get_by_role("button", name="My tickets").click()
    mine = page.locator(f'#mine-list .ticket-card[data-id="{reservation}"]')
    await expect(mine.locator('[data-field="date"]')).to_have_text(venue_time(concert_at, "en"))
    await expect(mine.locator('[data-field="booking"]')).to_have_text(number)
    await expect(mine.locator('[data-field="status"]')).to_have_text("Paid")

    await page.get_by_role("button", name="한국어로 보기").click()
    ko = venue_time(concert_at, "ko")
    await expect(card.locator('[data-field="date"]')).to_have_text(ko)
    await expect(card.locator('[data-field="status"]')).to_have_text("결제 완료")
    await expect(mine.locator('[data-field="date"]')).to_have_text(ko)
    await expect(card.locator("dt").first).to_have_text("장소")


async def test_a_printed_ticket_is_the_ticket_alone(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await open_in(pages, server, NEW_YORK)
    page = fan.page
    reservation = await buy_seven(page)
    bought = page.locator("#ticket-facts .ticket-card")

    await page.emulate_media(media="print")
    await expect(bought).to_be_visible()
    await expect(bought.locator('[data-field="seat"]')).to_be_visible()
    for hidden in ("header.bar", "#wallet", "#ticket-title", "#buy-another", "#ticket-facts > dl"):
        await expect(page.locator(hidden)).to_be_hidden()
    await expect(bought.get_by_role("button")).to_be_hidden()

    # Print on one card of several: that card alone.
    await page.emulate_media(media="screen")
    await page.get_by_role("button", name="My tickets").click()
    mine = page.locator(f'#mine-list .ticket-card[data-id="{reservation}"]')
    await expect(mine).to_be_visible()
    await page.evaluate("() => { window.printed = 0; window.print = () => window.printed++; }")
    await mine.get_by_role("button", name="Print").click()
    assert await page.evaluate("() => window.printed") == 1
    await page.emulate_media(media="print")
    await expect(mine).to_be_visible()
    await expect(bought).to_be_hidden()
    for hidden in ("header.bar", "#mine-title", "#ledger"):
        await expect(page.locator(hidden)).to_be_hidden()


@pytest.mark.parametrize("zone", [NEW_YORK, SEOUL])
async def test_the_dates_to_choose_and_the_hold_show_the_venues_clock(
    start_server: Callable[..., Server], pages: Pages, zone: str
) -> None:
    server = start_server()
    concert_at = (await sales(server))[0]["schedules"][0]["concertAt"]
    fan = await open_in(pages, server, zone)
    page = fan.page
    await sign_in(page, "Mina")
    await join(page)
    await open_first_date(page)
    when = venue_time(concert_at, "en")
    await expect(page.locator("#dates button").first).to_contain_text(when)
    await expect(page.locator("#seatmap-title")).to_contain_text(when)
    await page.locator('#seats .seat[data-seat-number="3"]').click()
    await expect(page.locator("#hold-facts")).to_contain_text(when)


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
async def test_the_control_room_shows_each_show_on_its_venues_clock_from_new_york(
    start_server: Callable[..., Server], pages: Pages, locale: str
) -> None:
    server = start_server()
    first = (await sales(server))[0]["schedules"][0]
    room = await open_in(pages, server, NEW_YORK, "/operator", name="operator", locale=locale)
    page = room.page
    await page.locator("#admin-token").fill(ADMIN_TOKEN)
    await page.locator("#signin-form button").click()
    language = locale[:2]
    row = page.locator(f'#sales tr.sub[data-id="{first["scheduleId"]}"] td').first
    await expect(row).to_have_text(venue_time(first["concertAt"], language))
    await expect(page.locator('#sales tr.concert[data-id="1"]')).to_contain_text("Asia/Seoul")


async def test_a_date_typed_in_new_york_for_a_seoul_concert_is_read_on_seouls_clock(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    room = await open_in(pages, server, NEW_YORK, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    await page.get_by_label("Concert", exact=True).select_option(label=AURORA)
    await expect(page.locator("#schedule-zone")).to_have_text("Read as local time in Asia/Seoul")
    await page.get_by_label("Date and time (local time at the show)").fill("2030-05-01T19:00")
    await page.get_by_label("Seats").fill("5")
    await page.get_by_role("button", name="Add date").click()
    await expect(page.locator("#notice")).to_have_text(
        "Date added: Wed, May 1, 2030, 7:00 PM KST, 5 seats."
    )
    added = [s for s in (await sales(server))[0]["schedules"] if s["totalSeats"] == 5]
    assert [s["concertAt"] for s in added] == ["2030-05-01T10:00:00Z"]
    row = page.locator(f'#sales tr.sub[data-id="{added[0]["scheduleId"]}"] td').first
    await expect(row).to_have_text("Wed, May 1, 2030, 7:00 PM KST")


async def test_a_concert_in_new_york_takes_its_dates_on_new_yorks_clock_summer_and_winter(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    room = await open_in(pages, server, SEOUL, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    await page.get_by_label("Title").fill("Late Show")
    await page.get_by_label("Venue").fill("Carnegie Hall")
    zone = page.get_by_label("Time zone (IANA name)")
    await expect(zone).to_have_value(SEOUL)
    await zone.fill("Mars/Olympus")
    await page.get_by_role("button", name="Add concert").click()
    assert not await zone.evaluate("(input) => input.validity.valid")  # refused here
    await zone.fill(NEW_YORK)
    await page.get_by_role("button", name="Add concert").click()
    await expect(page.locator("#notice")).to_have_text("Concert “Late Show” added.")
    concerts = (await server.api.client.get("/api/v1/concerts")).json()["items"]
    assert concerts[-1]["timeZone"] == NEW_YORK
    await expect(page.locator("#schedule-zone")).to_have_text(f"Read as local time in {NEW_YORK}")

    summer, winter = "Mon, Jul 1, 2030, 7:00 PM EDT", "Tue, Jan 15, 2030, 7:00 PM EST"
    for typed, shown in (("2030-07-01T19:00", summer), ("2030-01-15T19:00", winter)):
        await page.get_by_label("Date and time (local time at the show)").fill(typed)
        await page.get_by_role("button", name="Add date").click()
        await expect(page.locator("#notice")).to_have_text(f"Date added: {shown}, 50 seats.")
    stored_at = [s["concertAt"] for s in (await sales(server))[-1]["schedules"]]
    assert sorted(stored_at) == ["2030-01-16T00:00:00Z", "2030-07-01T23:00:00Z"]  # EST, EDT
    rows = page.locator("#sales tr.sub td:first-child")
    await expect(rows.filter(has_text="Jul 1, 2030")).to_have_text(summer)
    await expect(rows.filter(has_text="Jan 15, 2030")).to_have_text(winter)


# Wall-clock times on a zone's clock: ordinary ones, and the ones the clocks skip or
# show twice (read like Python's zoneinfo with fold=0: the offset before the change).
WALL_TIMES = [
    (SEOUL, "2030-05-01T19:00"),
    (NEW_YORK, "2026-03-08T01:59"),
    (NEW_YORK, "2026-03-08T02:30"),  # skipped: 03:30 EDT
    (NEW_YORK, "2026-03-08T03:00"),
    (NEW_YORK, "2026-11-01T01:30"),  # twice: the first, EDT
    (NEW_YORK, "2026-11-01T02:00"),
    ("Europe/London", "2026-03-29T01:30"),  # skipped
    ("Europe/London", "2026-10-25T01:30:15"),  # twice
    ("Australia/Lord_Howe", "2026-10-04T02:15"),  # a half-hour change, skipped
    ("Australia/Sydney", "2026-04-05T02:30"),  # twice, in the southern autumn
]


@pytest.mark.parametrize("browser_zone", [NEW_YORK, SEOUL])
async def test_a_wall_clock_time_becomes_the_same_instant_as_zoneinfo_makes_it(
    start_server: Callable[..., Server], pages: Pages, browser_zone: str
) -> None:
    server = start_server()
    room = await open_in(pages, server, browser_zone, "/operator", name="operator")
    got = await room.page.evaluate(
        """async (cases) => {
            const src = document.querySelector('script[type="module"]').src;
            const url = src.replace(/operator\\.js$/, "wall-clock.js");
            const { wallClock, zonedInstant } = await import(url);
            return cases.map(([zone, wall]) => {
                const at = zonedInstant(wall, zone);
                return [new Date(at).toISOString(), wallClock(at, zone)];
            });
        }""",
        WALL_TIMES,
    )
    expected = []
    for zone, wall in WALL_TIMES:
        at = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone))
        instant = at.astimezone(UTC)
        expected.append(
            [
                instant.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S"),
            ]
        )
    assert got == expected
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", got[0][1])
