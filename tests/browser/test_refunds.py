"""Refunds in the browser: a fan hands a ticket back (or is told why not), and the
operator refunds one ticket by number or cancels a whole show."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server
from tests.browser.steps import AURORA, buy, sign_in
from tests.browser.test_operator import confirm, operator_signs_in


async def open_my_tickets(page: Page) -> None:
    toggle = page.locator("#mine-toggle")
    if await toggle.get_attribute("aria-expanded") == "true":
        await toggle.click()  # closed, to be opened afresh
    await toggle.click()
    await expect(page.locator("#mine-list .ticket-card").first).to_be_visible()


async def test_a_fan_refunds_a_ticket_gets_the_points_back_and_is_told_when_it_is_too_late(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    await server.api.make_show(title="Tonight", price=10_000, in_days=0.05)  # in 72 minutes
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Yuna")
    await page.get_by_role("button", name="Charge 50,000 points").click()
    await expect(page.locator("#balance")).to_have_text("50,000 points")
    aurora = await buy(page, AURORA, seat_number=7, price="30,000 points")
    await page.get_by_role("button", name="Buy another ticket").click()
    tonight = await buy(page, "Tonight", seat_number=1, price="10,000 points")
    await expect(page.locator("#balance")).to_have_text("10,000 points")

    await open_my_tickets(page)
    rows = page.locator("#mine-list .ticket-card")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-id", str(tonight))

    # Within the cutoff before the show: refused, and said why in words.
    fan.expect(409, f"/api/v1/reservations/{tonight}/refund")
    await page.get_by_role("button", name="Refund the ticket for Tonight, seat 1").click()
    await confirm(page, "Refund your ticket for Tonight on ")
    await expect(page.locator("#notice")).to_have_text(
        "Refunds for this show have closed: tickets can be handed back only until some hours "
        "before it starts. Your ticket is still valid."
    )
    await expect(page.locator(f'#mine-list .ticket-card[data-id="{tonight}"]')).to_contain_text(
        "Paid"
    )

    # A month ahead: the price comes back, the ticket reads REFUNDED, the ledger says so.
    await page.get_by_role("button", name=f"Refund the ticket for {AURORA}, seat 7").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("#confirm-text")).to_have_text(
        re.compile(
            rf"^Refund your ticket for {AURORA} on .+, seat 7\? 30,000 points go back to your "
            r"balance and the seat goes back on sale\.$"
        )
    )
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#balance")).to_have_text("10,000 points")  # nothing happened

    await page.get_by_role("button", name=f"Refund the ticket for {AURORA}, seat 7").click()
    await confirm(page, "Refund your ticket for")
    await expect(page.locator("#notice")).to_have_text(
        "Refunded 30,000 points. Your balance is now 40,000 points."
    )
    await expect(page.locator("#balance")).to_have_text("40,000 points")
    refunded = page.locator(f'#mine-list .ticket-card[data-id="{aurora}"]')
    await expect(refunded).to_contain_text("Refunded")
    await expect(refunded.get_by_role("button")).to_have_count(0)
    await expect(page.locator("#ledger tbody tr").first).to_contain_text("Refund")
    await expect(page.locator("#ledger tbody tr").first).to_contain_text("30,000 points")


async def test_the_card_of_a_ticket_just_bought_and_the_open_list_follow_refunds_and_charges(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Hana")
    await page.get_by_role("button", name="Charge 50,000 points").click()
    aurora = await buy(page, AURORA, seat_number=3, price="30,000 points")
    card = page.locator("#ticket-facts")
    await expect(card).to_contain_text("Paid")
    await expect(card).to_contain_text("20,000 points")

    await open_my_tickets(page)
    await page.get_by_role("button", name=f"Refund the ticket for {AURORA}, seat 3").click()
    await confirm(page, "Refund your ticket for")
    await expect(page.locator(f'#mine-list .ticket-card[data-id="{aurora}"]')).to_contain_text(
        "Refunded"
    )
    # The card of the ticket just bought no longer shows it paid, nor the old balance.
    await expect(card).to_contain_text("Refunded")
    await expect(card).to_contain_text("50,000 points")

    # A charge with the list open: its points history has the charge at once.
    await page.get_by_role("button", name="Charge 10,000 points").click()
    await expect(page.locator("#balance")).to_have_text("60,000 points")
    first = page.locator("#ledger tbody tr").first
    await expect(first).to_contain_text("Charge")
    await expect(first).to_contain_text("10,000 points")


async def test_the_operator_refunds_a_ticket_by_number_then_cancels_the_show_and_the_fan_sees_it(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    api = server.api
    show = await api.make_show(title="Last Waltz", seats=5, price=8_000)
    other, _, other_ticket = await api.bought(show=show, seat=3, name="other")

    fan = await pages.open(server, name="fan")
    await sign_in(fan.page, "Sora")
    await fan.page.get_by_role("button", name="Charge 10,000 points").click()
    ticket = await buy(fan.page, "Last Waltz", seat_number=2, price="8,000 points", seats=5)
    await open_my_tickets(fan.page)
    await expect(fan.page.locator(f'#mine-list .ticket-card[data-id="{ticket}"]')).to_contain_text(
        "Paid"
    )

    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    schedule = page.locator(f'#sales tr.sub[data-id="{show.schedule_id}"]')
    await expect(schedule.locator('[data-field="sold"]')).to_have_text("2")

    await page.get_by_label("Reservation no.").fill(str(other_ticket))
    await page.get_by_role("button", name="Refund", exact=True).click()
    await confirm(page, f"Refund reservation #{other_ticket}?")
    await expect(page.locator("#notice")).to_have_text(
        f"Reservation #{other_ticket} refunded: 8,000 points back to user #{other.user_id}."
    )
    await expect(schedule.locator('[data-field="sold"]')).to_have_text("1")
    assert await api.balance(other) == 8_000

    # Cancelling takes the word typed out: the confirm button is off until then.
    await schedule.get_by_role(
        "button", name=re.compile("^Cancel the show of Last Waltz on ")
    ).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(
        "It goes off sale at once and every ticket is refunded: 1 sold, 8,000 points back "
        "to the fans. This cannot be undone."
    )
    yes = dialog.get_by_role("button", name="Confirm")
    await expect(yes).to_be_disabled()
    await dialog.get_by_label("Type CANCEL to confirm").fill("cance")
    await expect(yes).to_be_disabled()
    await dialog.get_by_label("Type CANCEL to confirm").fill("CANCEL")
    await yes.click()
    await expect(dialog).to_be_hidden()
    # What the dialog asked about (1 ticket), then the show's total with the refund
    # made one by one before.
    await expect(page.locator("#notice")).to_have_text(
        "Show cancelled: 1 ticket refunded now. Refunded for this show in all: 2, 16,000 points."
    )
    await expect(schedule).to_contain_text(re.compile(r"Cancelled \w+, \w+ \d+"))
    for field, text in (("sold", "0"), ("available", "0"), ("revenue", "0 points")):
        await expect(schedule.locator(f'[data-field="{field}"]')).to_have_text(text)
    await expect(schedule.get_by_role("button")).to_have_count(0)

    await open_my_tickets(fan.page)
    await expect(fan.page.locator(f'#mine-list .ticket-card[data-id="{ticket}"]')).to_contain_text(
        "Refunded"
    )
    await expect(fan.page.locator("#balance")).to_have_text("10,000 points")
