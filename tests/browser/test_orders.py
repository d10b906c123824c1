"""Several seats as one order in the browser, on a seat plan drawn as the venue: seats
of two grades held and paid together; a seat of the order lost to another fan before
it was held; and a phone that pans and zooms the map instead of reflowing it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

from playwright.async_api import FloatRect, Page, Request, Route, expect

from tests.browser.conftest import Pages, Server
from tests.browser.steps import join, open_first_date, seat, sign_in, stored
from tests.support import Show

NEON = "Neon Harbor Live"  # the demo's plan: VIP, R, S and A seats, 232 a show
PLAN_SEATS = 232
# Floor A: rows A and B are VIP (seats 1-30), rows C and D are R (31-60).
VIP_A3, R_C5 = 3, 35


async def choose_two(page: Page, *, count: str = "2") -> None:
    await page.locator("#count button", has_text=count).click()
    await seat(page, VIP_A3).click()
    await seat(page, R_C5).click()
    for number in (VIP_A3, R_C5):
        await expect(seat(page, number)).to_have_attribute("aria-pressed", "true")


async def live_holds(server: Server, page: Page) -> list[dict[str, object]]:
    """The fan's holds not yet lapsed, as the support desk sees them."""
    user = await stored(page, "user", "userId")
    r = await server.api.client.get(
        "/api/v1/admin/fans", params={"userId": user}, headers=server.api.admin
    )
    assert r.status_code == 200, r.text
    return [h for h in r.json()["reservations"] if h["status"] == "HELD"]


async def test_two_seats_of_two_grades_are_held_as_one_order_and_paid_once(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Yuna")
    for _ in range(3):
        await page.get_by_role("button", name="Charge 100,000 points").click()
    await expect(page.locator("#balance")).to_have_text("300,000 points")
    await join(page, label=f"Join the line for {NEON}")
    await open_first_date(page, seats=PLAN_SEATS)
    # The legend: each grade with its price and seats left, in plan order.
    keys = page.locator("#grades .grade-key")
    await expect(keys).to_have_text(
        [
            "VIP 154,000 points · 60 left",
            "R 132,000 points · 60 left",
            "S 110,000 points · 72 left",
            "A 88,000 points · 40 left",
        ]
    )
    await expect(page.locator("#seats h4")).to_have_text(
        ["Floor A", "Floor B", "2F West", "2F East", "3F"]
    )
    await expect(seat(page, VIP_A3)).to_have_attribute(
        "aria-label", "Floor A, row A, seat A-3, VIP, 154,000 points, Available"
    )

    await choose_two(page)
    await expect(page.locator("#picked-list li")).to_have_text(
        [
            "Floor A · row A · seat A-3 · VIP · 154,000 points",
            "Floor A · row C · seat C-5 · R · 132,000 points",
        ]
    )
    await expect(page.locator("#picked-total")).to_have_text("2 seats, total 286,000 points")
    await page.get_by_role("button", name="Hold these seats").click()

    await expect(page.locator("#hold-intro")).to_have_text(
        "These 2 seats are yours until the timer runs out."
    )
    await expect(page.locator("#hold-seats li")).to_have_count(2)
    await expect(page.locator("#hold-facts")).to_contain_text("286,000 points")
    order_id = await stored(page, "hold", "orderId")
    assert isinstance(order_id, int)
    await page.reload()  # the order comes back, whole
    await expect(page.locator("#hold-seats li")).to_have_text(
        [
            "Floor A · row A · seat A-3 · VIP · 154,000 points",
            "Floor A · row C · seat C-5 · R · 132,000 points",
        ]
    )
    await expect(page.get_by_role("button", name="Release the seats")).to_be_visible()
    payments: list[Request] = []
    page.on("request", lambda r: payments.append(r) if r.url.endswith("/api/v1/payments") else None)
    await page.get_by_role("button", name="Pay 286,000 points").click()

    await expect(page.get_by_role("heading", name="Your ticket")).to_be_visible()
    tickets = page.locator("#ticket-facts")
    for text in ("A-3", "VIP", "C-5", "132,000 points"):
        await expect(tickets).to_contain_text(text)
    await expect(page.locator("#balance")).to_have_text("14,000 points")
    assert len(payments) == 1  # one payment for both seats
    assert json.loads(payments[0].post_data or "{}") == {"orderId": order_id}
    assert payments[0].headers.get("idempotency-key")
    await page.get_by_role("button", name="My tickets").click()
    paid = page.locator("#ledger tbody tr", has_text="Payment")
    await expect(paid.first).to_be_visible()
    amounts = sorted(await paid.evaluate_all("(rows) => rows.map((r) => r.cells[2].textContent)"))
    assert amounts in (["-286,000 points"], ["-132,000 points", "-154,000 points"]), amounts
    assert await live_holds(server, page) == []


async def test_a_seat_taken_before_the_order_is_named_and_nothing_is_held_in_korean(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    await sign_in(page, "하늘", label="이름", go="계속")
    await join(page, label=f"{NEON} 대기열 입장")
    await open_first_date(page, seats=PLAN_SEATS)
    fan.expect(409, "/api/v1/orders")

    # Until the order is sent, the page's map lags the database (as a cached map may):
    # the seat another fan takes still reads AVAILABLE, so the fan does try to hold it.
    lagging = True

    async def lag(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        if lagging:
            for s in body["seats"]:
                if s["seatNumber"] == R_C5:
                    s["status"] = "AVAILABLE"
        await route.fulfill(response=response, json=body)

    def sent(request: Request) -> None:
        nonlocal lagging
        if request.url.endswith("/api/v1/orders"):
            lagging = False

    await page.route("**/seats", lag)
    page.on("request", sent)
    await choose_two(page)
    await expect(page.locator("#picked-total")).to_have_text("2석, 합계 286,000포인트")

    rival = await server.api.admitted_fan(name="rival")
    concert_id = await stored(page, "line", "concertId")
    schedule = Show(concert_id, await stored(page, "line", "scheduleId"), [], 0)
    r = await server.api.hold(rival, schedule, seat_number=R_C5)
    assert r.status_code == 201, r.text

    await page.get_by_role("button", name="좌석 선택 완료").click()
    await expect(page.locator("#seat-note")).to_have_text(
        "방금 다른 분이 선택한 좌석: Floor A C-5. 선점된 좌석은 없습니다."
    )
    await expect(page.locator("#booking")).to_be_visible()
    await expect(page.locator("#hold")).to_be_hidden()
    taken = seat(page, R_C5)
    await expect(taken).to_have_attribute("data-status", "HELD")
    await expect(taken).to_have_attribute("aria-disabled", "true")
    await expect(taken).to_have_attribute(
        "aria-label", "Floor A C열 C-5, R, 132,000포인트, 선택 불가"
    )
    await expect(seat(page, VIP_A3)).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#picked-list li")).to_have_count(1)
    await expect(page.locator("#picked-total")).to_have_text("1석, 합계 154,000포인트")
    assert await stored(page, "hold") is None
    assert await live_holds(server, page) == []
    # The map read again from the server (not the page's own memory) shows it taken.
    await page.get_by_role("button", name="좌석 새로 고침").click()
    await page.wait_for_timeout(1_600)  # past the page's own memory of refused seats
    await page.get_by_role("button", name="좌석 새로 고침").click()
    await expect(taken).to_have_attribute("data-status", "HELD")
    await page.unroute_all(behavior="ignoreErrors")


async def test_on_a_phone_the_map_pans_and_zooms_and_never_reflows_in_korean(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server, locale="ko-KR", phone=True)
    page = fan.page
    await sign_in(page, "민준", label="이름", go="계속")
    await join(page, label=f"{NEON} 대기열 입장")
    await open_first_date(page, seats=PLAN_SEATS)

    async def box(number: int) -> FloatRect:
        found = await seat(page, number).bounding_box()
        assert found is not None
        return found

    # A row stays one line: seat 6 is right of seat 5, level with it, and so on.
    row_a = [await box(n) for n in range(1, 16)]
    for left, right in itertools.pairwise(row_a):
        assert right["x"] > left["x"] + left["width"] / 2, (left, right)
        assert abs(right["y"] - left["y"]) < 1, (left, right)
    assert (await box(16))["y"] > row_a[0]["y"] + 1  # row B is below row A

    async def page_width() -> list[float]:
        return list(
            await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        )

    scroll, inner = await page_width()
    assert scroll <= inner, (scroll, inner)
    # Korean breaks between words, never inside one, in the legend too.
    split = await page.evaluate(
        """() => [...document.querySelectorAll("#grades .grade-key, .legend .seat-key")]
            .flatMap((key) => {
              const node = key.firstChild;
              let at = 0;
              return node.textContent.split(" ").filter((word) => {
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + word.length);
                at += word.length + 1;
                return word && range.getClientRects().length > 1;
              });
            })"""
    )
    assert split == [], split
    await expect(page.locator("#grades")).to_have_css("word-break", "keep-all")

    # Zoomed in, a seat is bigger and the row still one line; dragged, it moves; the
    # page itself still does not scroll sideways.
    before = await box(5)
    await page.get_by_role("button", name="확대").click()
    await page.get_by_role("button", name="확대").click()
    zoomed = await box(5)
    assert zoomed["width"] > before["width"] * 1.4, (before, zoomed)
    assert (await box(6))["x"] > zoomed["x"] and abs((await box(6))["y"] - zoomed["y"]) < 1
    await page.locator("#map").scroll_into_view_if_needed()
    zoomed = await box(5)
    view = await page.locator("#map").bounding_box()
    assert view is not None
    start = (view["x"] + view["width"] / 2, view["y"] + view["height"] / 2)
    await page.mouse.move(*start)
    await page.mouse.down()
    await page.mouse.move(start[0] + 60, start[1] + 30, steps=5)
    await page.mouse.up()
    moved = await box(5)
    assert moved["x"] > zoomed["x"] + 20, (zoomed, moved)
    assert await seat(page, 5).get_attribute("aria-pressed") is None  # the drag picked nothing
    await expect(page.locator("#hold")).to_be_hidden()
    scroll, inner = await page_width()
    assert scroll <= inner, (scroll, inner)
