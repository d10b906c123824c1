"""The control room in a real browser: watching and steering the line, sales, catalog."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server, keep_screenshot
from tests.browser.steps import concert_line, join, join_line, seoul_input, sign_in
from tests.support import ADMIN_TOKEN

OPENS_IN_SECONDS = 8  # time enough to set the line up and see it before the opening


async def operator_signs_in(page: Page) -> None:
    await page.get_by_label("Operator token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="The line")).to_be_visible()


async def confirm(page: Page, question: str) -> None:
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(question)
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog).to_be_hidden()


async def test_the_operator_pauses_the_line_a_waiting_fan_sees_it_and_is_admitted_on_resume(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="1")
    first = await server.api.register("first")
    await server.api.join(first)

    fan = await pages.open(server, name="fan")
    await sign_in(fan.page, "Mina")
    await join(fan.page)
    await expect(fan.page.locator("#position")).to_have_text("You're next!")
    await expect(fan.page.locator("#paused")).to_be_hidden()

    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    await expect(page.locator("#stat-waiting")).to_have_text("1")
    await expect(page.locator("#stat-admitted")).to_have_text("1")
    await expect(page.locator("#stat-capacity")).to_have_text("1")
    await expect(page.locator("#stat-paused")).to_have_text("Running")
    assert await page.evaluate("() => localStorage.length") == 0  # the token stays in the tab

    await page.get_by_role("button", name="Pause admission").click()
    await confirm(page, "Pause admission? Waiting fans keep their places.")
    await expect(page.locator("#stat-paused")).to_have_text("Paused")
    await expect(fan.page.locator("#paused")).to_be_visible()
    await expect(fan.page.locator("#paused")).to_contain_text("paused")

    # The admitted fan leaves; paused, nobody takes the free place.
    await server.api.client.delete("/api/v1/queue/tokens/current", headers=first.queue)
    await expect(page.locator("#stat-admitted")).to_have_text("0")
    await expect(page.locator("#stat-waiting")).to_have_text("1")
    await expect(fan.page.locator("#position")).to_have_text("You're next!")

    await page.get_by_role("button", name="Resume admission").click()
    await confirm(page, "Resume admission?")
    await expect(fan.page.get_by_role("heading", name="It's your turn!")).to_be_visible()
    await expect(page.locator("#stat-admitted")).to_have_text("1")
    await expect(page.locator("#stat-waiting")).to_have_text("0")
    await expect(page.locator("#stat-paused")).to_have_text("Running")

    # A capacity below the fans admitted now is said before it is applied.
    await page.get_by_label("Capacity").fill("0")
    await page.get_by_role("button", name="Apply").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(
        "Change Capacity 0? 1 fan is admitted now, more than that: nobody else is let in "
        "until fewer are."
    )
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#stat-capacity")).to_have_text("1")

    # New settings, confirmed, visibly in force.
    await page.get_by_label("Capacity").fill("250")
    await page.get_by_label("Admissions per minute").fill("900")
    await page.get_by_role("button", name="Apply").click()
    await confirm(page, "Change Capacity 250, Admissions per minute 900?")
    await expect(page.locator("#stat-capacity")).to_have_text("250")
    await expect(page.locator("#stat-admissionPerMinute")).to_have_text("900")
    await expect(page.locator("#applied")).to_contain_text("Applied at")
    line = await server.api.client.get("/api/v1/admin/waiting-room", headers=server.api.admin)
    assert (line.json()["capacity"], line.json()["admissionPerMinute"]) == (250, 900)
    two_points = re.compile(r"^[\d.]+,[\d.]+ [\d.]+,[\d.]+")
    await expect(page.locator("#chart polyline.waiting")).to_have_attribute("points", two_points)
    await keep_screenshot(room, "operator-page")


async def test_the_operator_adds_a_concert_and_a_date_and_watches_its_sales(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    await expect(page.locator("#sales tbody tr.concert")).to_have_count(3)  # the demo

    await page.get_by_label("Title").fill("Late Show")
    await page.get_by_label("Venue").fill("Club")
    await page.get_by_role("button", name="Add concert").click()
    await expect(page.locator("#notice")).to_have_text("Concert “Late Show” added.")
    await expect(page.get_by_label("Concert", exact=True)).to_have_value("4")
    # A date already past is asked about, and not added when the operator says no.
    await page.get_by_label("Date and time (local time at the show)").fill("2020-05-01T20:00")
    await page.get_by_label("Seats").fill("5")
    await page.get_by_label("Price (points)").fill("7000")
    await page.get_by_role("button", name="Add date").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("has passed: fans cannot book a show in the past")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.locator('#sales tr.concert[data-id="4"]')).to_contain_text("Late Show")
    await expect(page.locator("#sales tr.sub", has_text="2020")).to_have_count(0)

    await page.get_by_label("Date and time (local time at the show)").fill("2030-05-01T20:00")
    await page.get_by_label("Seats").fill("5")
    await page.get_by_label("Price (points)").fill("7000")
    await page.get_by_role("button", name="Add date").click()
    await expect(page.locator("#notice")).to_contain_text("5 seats")

    row = page.locator('#sales tr.concert[data-id="4"]')
    await expect(row).to_contain_text("Late Show — Club")
    await expect(row.locator('[data-field="available"]')).to_have_text("5")
    schedule = page.locator("#sales tr.sub").last
    await expect(schedule).to_contain_text("2030")  # 20:00 in Seoul, as the operator typed it
    sales = (await server.api.client.get("/api/v1/admin/sales", headers=server.api.admin)).json()
    added = sales["concerts"][3]["schedules"][0]
    assert (added["concertAt"], added["totalSeats"]) == ("2030-05-01T11:00:00Z", 5)

    # A sale shows up within a refresh.
    buyer = await server.api.admitted_fan(balance=7_000)
    show_id = added["scheduleId"]
    held = await server.api.client.post(
        "/api/v1/reservations", json={"scheduleId": show_id, "seatNumber": 1}, headers=buyer.queue
    )
    await server.api.pay(buyer, held.json()["reservationId"])
    await expect(row.locator('[data-field="sold"]')).to_have_text("1")
    await expect(row.locator('[data-field="revenue"]')).to_have_text("7,000 points")


async def test_a_wrong_operator_token_is_refused_in_words(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    room = await pages.open(server, "/operator", name="operator", locale="ko-KR")
    room.expect(401, "/api/v1/admin/waiting-room")
    await room.page.get_by_label("운영자 토큰").fill("not-the-token")
    await room.page.get_by_role("button", name="계속").click()
    await expect(room.page.locator("#notice")).to_have_text("운영자 토큰이 올바르지 않습니다.")
    await expect(room.page.locator("#room")).to_be_hidden()


async def test_the_operator_gives_a_concert_a_line_with_an_opening_and_shows_its_draw(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    api = server.api
    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    room.expect(404, "/api/v1/admin/concerts/2/waiting-room")  # none of its own yet
    await operator_signs_in(page)
    await page.get_by_label("Line", exact=True).select_option(label="The Midnight Brass")
    await expect(page.locator("#no-line")).to_have_text(
        re.compile("^The Midnight Brass is sold through the default line")
    )
    await expect(page.locator("#stats")).to_be_hidden()

    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=OPENS_IN_SECONDS)
    await page.get_by_label("Capacity").fill("5")
    await page.get_by_label("Admissions per minute").fill("120")
    await page.get_by_label("Sale opens (local time at the show; empty: open now)").fill(
        seoul_input(opens)
    )
    await page.get_by_role("button", name="Give it a line of its own").click()
    await confirm(
        page,
        "Give The Midnight Brass a line of its own: Capacity 5, Admissions per minute 120, "
        "opening ",
    )
    await expect(page.locator("#stat-capacity")).to_have_text("5")
    await expect(page.locator("#stat-admissionPerMinute")).to_have_text("120")
    await expect(page.locator("#stat-paused")).to_have_text("Before the opening")
    await expect(page.locator("#stat-seatsLeft")).to_have_text("608")  # 4 dates of 152

    line = await concert_line(api, 2)
    assert datetime.fromisoformat(line["salesOpenAt"]) == opens
    draw = page.locator("#draw")
    await expect(draw).to_contain_text(line["draw"]["seedCommitment"])
    await expect(draw).to_contain_text("revealed at the opening")
    await expect(draw).to_contain_text("sort them by SHA-1(seed:userId)")

    early = await api.register("early")
    assert (await join_line(api, early, 2))["status"] == "PRE_QUEUE"
    await expect(page.locator("#stat-waiting")).to_have_text("1")

    # After the opening: the seed itself, which hashes to the commitment, and who was drawn.
    await expect(page.locator("#stat-paused")).to_have_text("Running", timeout=15_000)
    line = await concert_line(api, 2)
    seed = line["draw"]["seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == line["draw"]["seedCommitment"]
    await expect(draw).to_contain_text(seed)
    facts = draw.locator("dd")
    await expect(facts.nth(3)).to_have_text("1")  # the entrants
    await expect(page.locator("#stat-admitted")).to_have_text("1")


async def test_on_a_phone_the_sales_are_cards_that_neither_scroll_sideways_nor_split_words(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    room = await pages.open(server, "/operator", name="operator", phone=True)
    page = room.page
    await operator_signs_in(page)
    await page.get_by_role("button", name="한국어로 보기").click()
    sold = page.locator('#sales tr.sub [data-field="sold"]').first
    await expect(sold).to_be_visible()
    await expect(page.locator("#sales table")).to_have_css("display", "block")

    overflow = await page.evaluate(
        """() => [document.documentElement, document.getElementById("sales")]
            .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.id || e.tagName)"""
    )
    assert overflow == [], overflow
    # Each card's values sit on one line beside their column's name (판매 0): no
    # syllable to a line.
    heights = await page.evaluate(
        """() => [...document.querySelectorAll('#sales tr.sub td[data-label]')].map((td) => {
            const line = parseFloat(getComputedStyle(td).lineHeight);
            return td.getBoundingClientRect().height / line;
        })"""
    )
    assert heights and max(heights) < 1.6, heights
    await keep_screenshot(room, "operator-sales-phone-ko")
