"""A Korean fan refused by the server reads why in Korean, from the refusal's code:
never the server's English detail."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server, Watched

TEXTS = Path(__file__).resolve().parents[2] / "src" / "boxoffice" / "web" / "static" / "text-ko.js"


def korean(key: str) -> str:
    """The page's Korean words for key, as text-ko.js has them."""
    found = re.search(rf'^  {key}: "(.*)",$', TEXTS.read_text(), re.MULTILINE)
    assert found, key
    return found.group(1)


async def refused(
    watched: Watched,
    path: str,
    status: int,
    code: str,
    words: str,
    act: Callable[[], Awaitable[None]],
) -> None:
    """Doing act is refused with status and code; the page says words, in Korean, and
    shows nothing of the server's detail."""
    page = watched.page
    watched.expect(status, path)
    async with page.expect_response(lambda r: r.url.endswith(path) and r.status == status) as info:
        await act()
    problem = await (await info.value).json()
    assert problem["code"] == code, problem
    notice = page.locator("#notice")
    await expect(notice).to_have_text(words)
    assert not re.search(r"[A-Za-z]{3,}", words), words  # Korean words, not English ones
    shown = await page.locator("body").inner_text()
    assert problem["detail"] not in shown and problem["title"] not in shown, problem


async def fill(page: Page, **fields: str) -> None:
    form = page.locator("#signin-form")
    for label, value in fields.items():
        await form.get_by_label(label, exact=True).fill(value)


async def test_sign_in_sign_up_and_charge_refusals_are_said_in_korean(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(max_balance="60000")
    taken = await server.api.client.post(
        "/api/v1/accounts",
        json={"email": "mina@example.com", "password": "correct horse battery", "name": "Mina"},
    )
    assert taken.status_code == 201, taken.text
    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    submit = page.locator("#signin-go")

    # A wrong password.
    await fill(page, 이메일="mina@example.com", 비밀번호="wrong horse battery")
    await refused(
        fan, "/api/v1/sessions", 401, "invalid_credentials", korean("badCredentials"), submit.click
    )

    # An account for an email that has one, and a password too short.
    await page.get_by_role("tab", name="회원가입").click()
    await fill(page, 이름="미나", 이메일="mina@example.com", 비밀번호="correct horse battery")
    await refused(fan, "/api/v1/accounts", 409, "email_taken", korean("emailTaken"), submit.click)
    await fill(page, 이메일="mina2@example.com", 비밀번호="short")
    await refused(
        fan, "/api/v1/accounts", 422, "weak_password", korean("weakPassword"), submit.click
    )

    # A charge that would take the balance past the most it may hold.
    await page.get_by_role("tab", name="게스트").click()
    await fill(page, 이름="미나")
    await submit.click()
    charge = page.get_by_role("button", name="50,000포인트 충전")
    await charge.click()
    await expect(page.locator("#balance")).to_have_attribute("data-balance", "50000")
    await refused(
        fan,
        "/api/v1/wallet/charges",
        409,
        "balance_limit_exceeded",
        korean("problem_balance_limit_exceeded"),
        charge.click,
    )
    await expect(page.locator("#balance")).to_have_attribute("data-balance", "50000")
