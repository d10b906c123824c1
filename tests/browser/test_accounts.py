"""Accounts on the fan page: a fan is the same person on any browser, stays signed in
across reloads and restarts through a cookie no page script can read, and a guest can
keep what they have by saving their account. The control room finds a fan for the
support desk."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server, keep_screenshot
from tests.browser.steps import (
    AURORA,
    PASSWORD,
    buy,
    create_account,
    sign_in,
    sign_in_as,
)
from tests.browser.test_operator import operator_signs_in
from tests.browser.test_refunds import open_my_tickets


async def signed_in_as(page: Page, name: str, balance: str) -> None:
    await expect(page.locator("#who")).to_have_text(f"Hi, {name}")
    await expect(page.locator("#balance")).to_have_text(balance)


async def nothing_lasting_in_reach_of_scripts(page: Page) -> None:
    """The page keeps no token a script could take away: the access token is in
    memory, the refresh token in an HttpOnly, SameSite=Strict cookie on the sessions
    path."""
    saved = await page.evaluate("() => JSON.stringify({ ...localStorage })")
    assert "accessToken" not in saved and "refreshToken" not in saved, saved
    assert "boxoffice_refresh" not in await page.evaluate("() => document.cookie")
    [cookie] = await page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        "boxoffice_refresh",
        True,
        "Strict",
        "/api/v1/sessions",
    )


async def test_a_fan_signs_up_buys_signs_out_and_signs_in_elsewhere_to_the_same_ticket(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    first = await pages.open(server, name="first-browser")
    page = first.page
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await keep_screenshot(first, "signin")
    await create_account(page, "Mina", "mina@example.com")
    await page.get_by_role("button", name="Charge 50,000 points").click()
    await expect(page.locator("#balance")).to_have_text("50,000 points")
    reservation = await buy(page, AURORA, seat_number=5, price="30,000 points")
    await expect(page.locator("#save")).to_be_hidden()  # an account has nothing to save
    await nothing_lasting_in_reach_of_scripts(page)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await page.context.cookies() == []
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    second = await pages.open(server, name="second-browser")
    await sign_in_as(second.page, "mina@example.com")
    await signed_in_as(second.page, "Mina", "20,000 points")
    await open_my_tickets(second.page)
    row = second.page.locator(f'#mine-list .ticket-card[data-id="{reservation}"]')
    await expect(row).to_contain_text(AURORA)
    await expect(row).to_contain_text("Paid")


async def a_reload_and_a_restart_keep_the_fan_signed_in(server: Server, pages: Pages) -> None:
    fan = await pages.open(server)
    page = fan.page
    await create_account(page, "Jun", "jun@example.com")
    await page.get_by_role("button", name="Charge 10,000 points").click()
    await expect(page.locator("#balance")).to_have_text("10,000 points")
    async with page.expect_response("**/api/v1/sessions/refresh", timeout=15_000) as renewed:
        pass
    assert (await renewed.value).status == 200

    await page.reload()
    await signed_in_as(page, "Jun", "10,000 points")
    await nothing_lasting_in_reach_of_scripts(page)

    server.restart()
    await page.reload()
    await signed_in_as(page, "Jun", "10,000 points")
    await page.get_by_role("button", name="Charge 10,000 points").click()
    await expect(page.locator("#balance")).to_have_text("20,000 points")


# A minute's access token: the page renews it through the cookie well before then.
async def test_a_reload_and_a_restart_keep_the_fan_signed_in_embedded(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(access_token_ttl_seconds="60")
    await a_reload_and_a_restart_keep_the_fan_signed_in(server, pages)


async def test_a_reload_and_a_restart_keep_the_fan_signed_in_production(
    start_server: Callable[..., Server], pages: Pages, postgres_url: str, redis_prefix: str
) -> None:
    server = start_server(postgres=(postgres_url, redis_prefix), access_token_ttl_seconds="60")
    await a_reload_and_a_restart_keep_the_fan_signed_in(server, pages)


async def test_a_guest_with_points_saves_their_account_and_signs_in_elsewhere(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    guest = await pages.open(server, name="guest")
    page = guest.page
    await sign_in(page, "Hana")
    await expect(page.locator("#save")).to_be_hidden()
    await page.get_by_role("button", name="Charge 10,000 points").click()
    save = page.locator("#save")
    await expect(save.get_by_role("heading", name="Save your account")).to_be_visible()
    await keep_screenshot(guest, "save-account")
    await save.get_by_label("Email").fill("hana@example.com")
    await save.get_by_label("Password").fill(PASSWORD)
    await save.get_by_role("button", name="Save account").click()
    await expect(page.locator("#notice")).to_have_text(
        "Account saved. Sign in with hana@example.com on any device."
    )
    await expect(save).to_be_hidden()
    await signed_in_as(page, "Hana", "10,000 points")

    elsewhere = await pages.open(server, name="elsewhere")
    await sign_in_as(elsewhere.page, "hana@example.com")
    await signed_in_as(elsewhere.page, "Hana", "10,000 points")


async def test_each_refusal_is_said_in_the_pages_language(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    r = await server.api.client.post(
        "/api/v1/accounts",
        json={"email": "sora@example.com", "password": PASSWORD, "name": "소라"},
    )
    assert r.status_code == 201, r.text
    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    await expect(page.get_by_role("heading", name="로그인")).to_be_visible()

    fan.expect(401, "/api/v1/sessions")
    korean = ("이메일", "비밀번호", "로그인")
    await sign_in_as(page, "sora@example.com", "wrong password", words=korean)
    await expect(page.locator("#notice")).to_have_text("이메일 또는 비밀번호가 올바르지 않습니다.")

    fan.expect(409, "/api/v1/accounts")
    await page.get_by_role("tab", name="회원가입").click()
    form = page.locator("#signin-form")
    await form.get_by_label("이름").fill("소라")
    await form.get_by_label("비밀번호").fill(PASSWORD)
    await form.get_by_role("button", name="회원가입").click()
    await expect(page.locator("#notice")).to_have_text("이미 가입된 이메일입니다. 로그인해 주세요.")

    fan.expect(429, "/api/v1/sessions")
    await page.route(
        "**/api/v1/sessions",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "42", "Content-Type": "application/problem+json"},
            body=json.dumps({"code": "rate_limited", "status": 429, "title": "Too many"}),
        ),
    )
    await page.get_by_role("tab", name="로그인").click()
    await form.get_by_role("button", name="로그인").click()
    await expect(page.locator("#notice")).to_have_text(
        "시도가 너무 많습니다. 42초 뒤에 다시 시도해 주세요."
    )


async def test_without_guest_sign_up_the_page_asks_for_an_account(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(guest_signup="false")
    fan = await pages.open(server)
    page = fan.page
    fan.expect(404, "/api/v1/users")
    await page.get_by_role("tab", name="Guest").click()  # offered until refused
    await page.get_by_label("Your name").fill("Walk-in")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("#notice")).to_have_text(
        "Guest visits are off here: please create an account or sign in."
    )
    await expect(page.get_by_role("tab", name="Guest")).to_be_hidden()
    await expect(page.get_by_role("tab", name="Create account")).to_have_attribute(
        "aria-selected", "true"
    )


async def test_the_control_room_finds_a_fan_by_email_with_their_ticket_and_ledger(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan, _, reservation = await server.api.bought(price=12_000, seat=4, name="Yuna")
    r = await server.api.client.post(
        "/api/v1/accounts",
        json={"email": "yuna@example.com", "password": PASSWORD, "name": "Yuna"},
        headers=fan.access,
    )
    assert r.status_code == 201, r.text

    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    room.expect(404, "/api/v1/admin/fans")
    await page.get_by_label("Email or user no.").fill("nobody@example.com")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#fan-found")).to_have_text("No fan has that email or user no.")

    await page.get_by_label("Email or user no.").fill("YUNA@example.com")
    await page.get_by_role("button", name="Find").click()
    found = page.locator("#fan-found")
    await expect(found.locator("dl")).to_contain_text("yuna@example.com")
    await expect(found.locator("dl")).to_contain_text("Account")
    tickets = found.locator("table").nth(0)
    await expect(tickets.locator(f'tr:has-text("#{reservation}")')).to_contain_text("Paid")
    await expect(tickets).to_contain_text("12,000 points")
    ledger = found.locator("table").last
    await expect(ledger.locator("tbody tr")).to_have_count(2)
    await expect(ledger.locator("tbody tr").first).to_contain_text("Payment")
    await page.locator("#fan-found").scroll_into_view_if_needed()
    await keep_screenshot(room, "support")

    await page.get_by_label("Email or user no.").fill(str(fan.user_id))
    await page.get_by_role("button", name="Find").click()
    await expect(found.locator("dl")).to_contain_text(f"#{fan.user_id}")
