"""Seats under contention in the browser: a race for one seat, a hold that lapses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from playwright.async_api import expect

from tests.browser.conftest import Pages, Server
from tests.browser.steps import join, open_first_date, seat, sign_in, stored
from tests.support import eventually

HOLD_SECONDS = 5


async def test_two_browsers_race_for_one_seat_and_the_loser_is_told(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    english = await pages.open(server, name="fan-en")
    korean = await pages.open(server, name="fan-ko", locale="ko-KR")
    await sign_in(english.page, "Ava")
    await sign_in(korean.page, "하늘", label="이름", go="계속")
    await join(english.page)
    await join(korean.page, label="Aurora Strings: Winter Nights 대기열 입장")
    for fan in (english, korean):
        await open_first_date(fan.page)
        fan.expect(409, "/api/v1/reservations")  # one of the two loses

    await asyncio.gather(seat(english.page, 10).click(), seat(korean.page, 10).click())

    async def outcome() -> list[str]:
        return [
            "won" if await fan.page.locator("#hold").is_visible() else "lost"
            for fan in (english, korean)
        ]

    async def decided() -> bool:
        won = await english.page.locator("#hold").is_visible()
        lost = await english.page.locator("#seat-note").is_visible()
        won_ko = await korean.page.locator("#hold").is_visible()
        lost_ko = await korean.page.locator("#seat-note").is_visible()
        return (won or lost) and (won_ko or lost_ko)

    await eventually(decided, within=10)
    assert sorted(await outcome()) == ["lost", "won"]
    loser = english if (await outcome())[0] == "lost" else korean
    note = {
        "fan-en": "Seat 10 was just taken by someone else. The map is updated.",
        "fan-ko": "방금 다른 분이 10번 좌석을 선택했습니다. 좌석표를 새로 고쳤습니다.",
    }[loser.name]
    await expect(loser.page.locator("#seat-note")).to_have_text(note)
    taken = seat(loser.page, 10)
    await expect(taken).to_have_attribute("data-status", "HELD")
    await expect(taken).to_have_attribute("aria-disabled", "true")
    label = {
        "fan-en": "Seat 10, 30,000 points, Held",
        "fan-ko": "10번 좌석, 30,000포인트, 선택 불가",
    }
    await expect(taken).to_have_attribute("aria-label", label[loser.name])

    winner = korean if loser is english else english
    release = {"fan-en": "Release the seat", "fan-ko": "선택 취소"}[winner.name]
    await winner.page.get_by_role("button", name=release).click()
    await expect(seat(winner.page, 10)).to_have_attribute("data-status", "AVAILABLE")
    refresh = loser.page.get_by_role(
        "button", name={"fan-en": "Refresh seats", "fan-ko": "좌석 새로 고침"}[loser.name]
    )

    async def free_again() -> bool:
        await refresh.click()
        await asyncio.sleep(0.3)
        return await seat(loser.page, 10).get_attribute("data-status") == "AVAILABLE"

    await eventually(free_again, within=10)


async def test_a_hold_that_lapses_in_the_browser_shows_as_lapsed_and_cannot_be_paid(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(hold_seconds=str(HOLD_SECONDS))
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Lee")
    await page.get_by_role("button", name="Charge 100,000 points").click()
    await expect(page.locator("#balance")).to_have_text("100,000 points")
    await join(page)
    await open_first_date(page)
    await seat(page, 3).click()
    await expect(page.locator("#hold-intro")).to_contain_text("Seat 3 is yours")
    left = int(await page.locator("#countdown").get_attribute("data-seconds") or "-1")
    assert 0 <= left <= HOLD_SECONDS  # never more time than the server granted

    lapsed = page.locator("#hold-lapsed")
    await expect(lapsed).to_have_text(
        "Your hold on seat 3 has lapsed; the seat is back on sale.", timeout=10_000
    )
    await expect(page.locator("#countdown")).to_have_text("0:00")
    await expect(page.get_by_role("button", name="Pay 30,000 points")).to_be_hidden()
    await expect(page.locator("#seatmap")).to_be_visible()
    await expect(seat(page, 3)).to_have_attribute("data-status", "AVAILABLE", timeout=10_000)

    # The server agrees: the hold is EXPIRED and paying it is refused, no points taken.
    reservation = await stored(page, "reservations", 0)
    queue = {"Authorization": f"Bearer {await stored(page, 'line', 'token')}"}
    client = server.api.client

    async def expired() -> bool:
        r = await client.get(f"/api/v1/reservations/{reservation}", headers=queue)
        return bool(r.json()["status"] == "EXPIRED")

    await eventually(expired)
    r = await client.post("/api/v1/payments", json={"reservationId": reservation}, headers=queue)
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")
    await expect(page.locator("#balance")).to_have_text("100,000 points")
