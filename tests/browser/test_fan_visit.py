"""A fan's whole visit in a real browser: sign in, charge, wait, book, pay."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server, keep_screenshot

AURORA = "Aurora Strings: Winter Nights"  # the demo catalog's first concert, 30,000 a seat


async def sign_in(page: Page, name: str, *, label: str = "Your name", go: str = "Continue") -> None:
    await page.get_by_label(label).fill(name)
    await page.get_by_role("button", name=go).click()


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

    await page.get_by_role("button", name=f"Join the line for {AURORA}").click()
    await expect(page.locator("#position")).to_have_text("1 person ahead of you")
    await expect(page).to_have_title("#2 in line — boxoffice")
    await expect(page.locator("#wait")).to_have_text(re.compile("minute"))
    await expect(page.locator("#joined")).to_have_text(re.compile(r"^Joined at \d"))
    await expect(page.locator("#progress")).to_have_attribute("max", "2")
    await expect(page.locator("#progress")).to_have_js_property("value", 0)
    await keep_screenshot(fan, "fan-page")

    await api.client.delete("/api/v1/queue/tokens/current", headers=ahead_waiting.queue)
    await expect(page.locator("#position")).to_have_text("You're next!")
    await expect(page.locator("#progress")).to_have_js_property("value", 1)

    await api.client.delete("/api/v1/queue/tokens/current", headers=ahead_admitted.queue)
    await expect(page.get_by_role("heading", name="It's your turn!")).to_be_visible()
    await expect(page).to_have_title("✅ Your turn! — boxoffice")

    await page.locator("#dates button").first.click()
    seats = page.locator("#seats .seat")
    await expect(seats).to_have_count(50)
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
    await expect(ticket.locator("dd").nth(2)).to_have_text("7")
    await expect(page.locator("#balance")).to_have_text("20,000 points")

    await page.get_by_role("button", name="My tickets").click()
    await expect(page.locator("#mine-list tbody tr")).to_have_count(1)
    await expect(page.locator("#mine-list tbody tr")).to_contain_text("Paid")
    ledger = page.locator("#ledger tbody tr")
    await expect(ledger).to_have_count(2)  # one charge for the double click, one payment
    await expect(ledger.nth(0)).to_contain_text("Payment")
    await expect(ledger.nth(1)).to_contain_text("Charge")
