"""A fan's whole visit in a real browser: sign in, charge, wait, book, pay."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from playwright.async_api import Route, expect

from tests.browser.conftest import Pages, Server, keep_screenshot
from tests.browser.steps import AURORA, join, open_first_date, seat, sign_in, stored


async def test_a_fan_waits_behind_others_is_admitted_books_and_pays(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="1")
    api = server.api
    ahead_admitted, ahead_waiting = await api.register("first"), await api.register("second")
    assert (await api.join(ahead_admitted)).json()["status"] == "ADMITTED"
    assert (await api.join(ahead_waiting)).json()["status"] == "WAITING"

    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Mina")
    await expect(page.locator("#who")).to_have_text("Hi, Mina")
    await expect(page.locator("#balance")).to_have_text("0 points")

    # A double click is one charge: the button is off while its request is out.
    await page.get_by_role("button", name="Charge 50,000 points").dblclick()
    await expect(page.locator("#balance")).to_have_text("50,000 points")

    await join(page)
    await expect(page.locator("#position")).to_have_text("1 person ahead of you")
    await expect(page).to_have_title("#2 in line — boxoffice")
    await expect(page.locator("#wait")).to_have_text(re.compile("minute"))
    await expect(page.locator("#joined")).to_have_text(re.compile(r"^Joined at \d"))
    # What closing the page would cost, in the line's own terms (WAITER_TIMEOUT_SECONDS).
    await expect(page.locator("#keep-open")).to_contain_text("nobody asks about for 60 s")
    await expect(page.locator("#progress")).to_have_attribute("max", "2")
    await expect(page.locator("#progress")).to_have_js_property("value", 0)
    await keep_screenshot(fan, "fan-page")

    await api.client.delete("/api/v1/queue/tokens/current", headers=ahead_waiting.queue)
    await expect(page.locator("#position")).to_have_text("You're next!")
    await expect(page.locator("#progress")).to_have_js_property("value", 1)

    await api.client.delete("/api/v1/queue/tokens/current", headers=ahead_admitted.queue)
    await expect(page.get_by_role("heading", name="It's your turn!")).to_be_visible()
    await expect(page).to_have_title("✅ Your turn! — boxoffice")

    await open_first_date(page)
    await page.get_by_role("button", name="Seat 7, 30,000 points, Available").click()

    await expect(page.get_by_role("heading", name="Your hold")).to_be_visible()
    countdown = page.locator("#countdown")
    await expect(countdown).to_have_text(re.compile(r"^[45]:\d\d$"))
    left = int(await countdown.get_attribute("data-seconds") or "0")
    assert 290 <= left <= 300, left

    await page.get_by_role("button", name="Pay 30,000 points").click()
    await expect(page.get_by_role("heading", name="Your ticket")).to_be_visible()
    ticket = page.locator("#ticket-facts")
    for text in (AURORA, "30,000 points", "20,000 points"):
        await expect(ticket).to_contain_text(text)
    await expect(ticket.locator('[data-field="seat"]')).to_have_text("7")
    await expect(page.locator("#balance")).to_have_text("20,000 points")

    await page.get_by_role("button", name="My tickets").click()
    await expect(page.locator("#mine-list .ticket-card")).to_have_count(1)
    await expect(page.locator("#mine-list .ticket-card")).to_contain_text("Paid")
    ledger = page.locator("#ledger tbody tr")
    await expect(ledger).to_have_count(2)  # one charge for the double click, one payment
    await expect(ledger.nth(0)).to_contain_text("Payment")
    await expect(ledger.nth(1)).to_contain_text("Charge")


async def test_a_reload_in_the_waiting_room_keeps_the_place_in_korean(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="1")
    api = server.api
    for name in ("admitted", "waiting-1", "waiting-2"):
        await api.join(await api.register(name))

    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    await expect(page.get_by_role("heading", name="로그인")).to_be_visible()
    await sign_in(page, "민아", label="이름", go="계속")
    await expect(page.locator("#who")).to_have_text("민아님, 안녕하세요")
    await join(page, label=f"{AURORA} 대기열 입장")
    await expect(page.locator("#position")).to_have_text("내 앞에 2명")
    await expect(page).to_have_title("대기 3번 — boxoffice")
    await expect(page.locator("#keep-open")).to_contain_text("60초 동안 확인이 없으면")
    token, joined = (
        await stored(page, "line", "token"),
        await page.locator("#joined").text_content(),
    )

    await page.reload()
    await expect(page.locator("#position")).to_have_text("내 앞에 2명")
    await expect(page.locator("#joined")).to_have_text(joined or "")
    await expect(page.locator("#wait")).to_have_text(re.compile("분"))
    assert await stored(page, "line", "token") == token

    # The switch turns the same screen to English and back.
    await page.get_by_role("button", name="View in English (영어로 보기)").click()
    await expect(page.locator("#position")).to_have_text("2 people ahead of you")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.get_by_role("button", name="한국어로 보기 (view in Korean)").click()
    await expect(page.locator("#position")).to_have_text("내 앞에 2명")


async def test_a_reload_during_a_hold_keeps_the_hold_and_its_countdown(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server, phone=True)
    page = fan.page
    await sign_in(page, "Jun")
    await join(page)
    await open_first_date(page)
    # By keyboard: one tab stop into the map, arrows inside it. The map keeps its
    # geometry on a phone (ten seats a line of the one row), so down from 2 is 12.
    await page.locator("#dates button").last.focus()
    await page.keyboard.press("Tab")
    await expect(seat(page, 1)).to_be_focused()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowDown")
    await expect(seat(page, 12)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#hold-intro")).to_contain_text("Seat 12 is yours")
    before = int(await page.locator("#countdown").get_attribute("data-seconds") or "0")
    reservation = await stored(page, "hold", "reservationId")

    await page.reload()
    await expect(page.locator("#hold-intro")).to_contain_text("Seat 12 is yours")
    after = int(await page.locator("#countdown").get_attribute("data-seconds") or "0")
    # The countdown runs on the server's clock as the page estimates it from whole-second
    # Date headers: a reloaded page's estimate may differ from the first by a second.
    assert before - 30 < after <= before + 1, (before, after)
    assert await stored(page, "hold", "reservationId") == reservation

    # A hold with no points: told at once, and offered the charge that covers it in
    # place of a Pay that could only fail; charging pays.
    await expect(page.locator("#low-balance-text")).to_have_text(
        "Your balance (0 points) is below the price (30,000 points)."
    )
    await expect(page.get_by_role("button", name="Pay 30,000 points")).to_be_hidden()
    await page.get_by_role("button", name="Charge 30,000 points and pay").click()
    await expect(page.get_by_role("heading", name="Your ticket")).to_be_visible()
    await expect(page.locator("#ticket-facts")).to_contain_text("0 points")


async def test_a_fan_whose_place_lapsed_is_told_and_can_join_again(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="1")
    await server.api.join(await server.api.register("admitted"))
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Sora")
    await join(page)
    await expect(page.locator("#position")).to_have_text("You're next!")

    fan.expect(401, "/api/v1/queue/status")
    token = await stored(page, "line", "token")
    r = await server.api.client.delete(
        "/api/v1/queue/tokens/current", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 204
    await expect(page.locator("#line-gone-text")).to_have_text("Your place in line has lapsed.")
    await page.get_by_role("button", name="Join the line again").click()
    # (#position still holds the old text while hidden: wait for the new token first.)
    await page.wait_for_function(
        """old => {
          const saved = JSON.parse(localStorage.getItem("boxoffice.fan"));
          return Boolean(saved && saved.line && saved.line.token && saved.line.token !== old);
        }""",
        arg=token,
    )
    await expect(page.locator("#position")).to_be_visible()
    await expect(page.locator("#position")).to_have_text("You're next!")


async def test_the_waiting_room_waits_as_long_as_a_busy_server_asks_and_carries_on(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="1")
    await server.api.join(await server.api.register("admitted"))
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Hana")
    await join(page)
    await expect(page.locator("#position")).to_have_text("You're next!")

    # The next poll meets storage that is busy, as a 503 problem with Retry-After.
    fan.expect(503, "/api/v1/queue/status")
    busy = {"code": "busy", "status": 503, "title": "Storage is busy", "type": "about:blank"}
    answered: list[int] = []

    async def once_busy(route: Route) -> None:
        if answered:
            await route.continue_()
            return
        answered.append(503)
        await route.fulfill(
            status=503,
            headers={"Retry-After": "3", "Content-Type": "application/problem+json"},
            body=json.dumps({**busy, "detail": "storage did not answer in time"}),
        )

    await page.route("**/api/v1/queue/status", once_busy)
    await expect(page.locator("#notice")).to_have_text("The box office is busy; retrying in 3 s.")
    await expect(page.locator("#notice")).to_be_hidden()
    await expect(page.locator("#position")).to_have_text("You're next!")
    assert answered == [503]


async def test_a_refusal_is_told_in_the_pages_language_not_the_servers_english(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    """A charge past the balance's limit: the server says why in English (its detail);
    the Korean page says it in Korean, from the refusal's code."""
    server = start_server(max_balance="60000")
    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    await sign_in(page, "민아", label="이름", go="계속")
    charge = page.get_by_role("button", name="50,000포인트 충전")
    await charge.click()
    await expect(page.locator("#balance")).to_have_text("50,000포인트")
    fan.expect(409, "/api/v1/wallet/charges")
    async with page.expect_response(re.compile("/wallet/charges")) as answered:
        await charge.click()
    assert (await (await answered.value).json())["code"] == "balance_limit_exceeded"
    await expect(page.locator("#notice")).to_have_text("충전하면 잔액 한도를 넘습니다.")
    await expect(page.locator("#balance")).to_have_text("50,000포인트")
