"""What a fan does on the page, step by step, in the words the page shows."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.support import Api, Fan

AURORA = "Aurora Strings: Winter Nights"  # the demo catalog's first concert, 30,000 a seat
SEOUL = timezone(timedelta(hours=9))  # every browser context's time zone


async def sign_in(page: Page, name: str, *, label: str = "Your name", go: str = "Continue") -> None:
    """As a guest: a name is enough."""
    await page.locator('[role="tab"][data-mode="guest"]').click()
    await page.get_by_label(label).fill(name)
    await page.get_by_role("button", name=go).click()
    await expect(page.locator("#balance")).to_have_attribute("data-balance", re.compile(r"^\d+$"))


async def join(page: Page, *, label: str = f"Join the line for {AURORA}") -> None:
    await page.get_by_role("button", name=label).click()


async def open_first_date(page: Page, *, seats: int = 50) -> None:
    await expect(page.locator("#booking")).to_be_visible()
    await page.locator("#dates button").first.click()
    await expect(page.locator("#seats .seat")).to_have_count(seats)


def seat(page: Page, number: int) -> Locator:
    return page.locator(f'#seats .seat[data-seat-number="{number}"]')


async def buy(page: Page, title: str, *, seat_number: int, price: str, seats: int = 50) -> int:
    """Join the line for ``title``, be let in, and pay for one seat; the reservation."""
    await join(page, label=f"Join the line for {title}")
    await open_first_date(page, seats=seats)
    await seat(page, seat_number).click()
    await page.get_by_role("button", name=f"Pay {price}").click()
    await expect(page.get_by_role("heading", name="Your ticket")).to_be_visible()
    reservations: list[int] = await stored(page, "reservations")
    return reservations[-1]


async def stored(page: Page, *path: str | int) -> Any:
    """A value from the page's saved state (localStorage), e.g. ("line", "token")."""
    value = await page.evaluate("() => JSON.parse(localStorage.getItem('boxoffice.fan'))")
    for key in path:
        value = value[key]
    return value


async def own_line(api: Api, concert_id: int, **settings: Any) -> dict[str, Any]:
    """Give a concert a line of its own through the admin API; its view."""
    r = await api.client.put(
        f"/api/v1/admin/concerts/{concert_id}/waiting-room", json=settings, headers=api.admin
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def concert_line(api: Api, concert_id: int) -> dict[str, Any]:
    r = await api.client.get(f"/api/v1/admin/concerts/{concert_id}/waiting-room", headers=api.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def join_line(api: Api, fan: Fan, concert_id: int) -> dict[str, Any]:
    """A fan (not in a browser) joins the line a concert is sold through."""
    r = await api.client.post(
        "/api/v1/queue/tokens", json={"concertId": concert_id}, headers=fan.access
    )
    assert r.status_code in (200, 201), r.text
    fan.queue_token = r.json()["token"]
    return dict(r.json())


def seoul_input(at: datetime) -> str:
    """``at`` as a datetime-local value in the browsers' time zone (Seoul, UTC+9 all
    year), to the second."""
    return at.astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M:%S")


def drawn_first(seed: str, user_ids: list[int]) -> list[int]:
    """The opening draw's order, as anyone can check it: by SHA-1(seed:userId)."""
    return sorted(user_ids, key=lambda user: hashlib.sha1(f"{seed}:{user}".encode()).hexdigest())


PASSWORD = "correct horse battery"


async def create_account(page: Page, name: str, email: str, password: str = PASSWORD) -> None:
    await page.get_by_role("tab", name="Create account").click()
    form = page.locator("#signin-form")
    await form.get_by_label("Your name").fill(name)
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Create account").click()
    await expect(page.locator("#balance")).to_have_attribute("data-balance", re.compile(r"^\d+$"))


async def sign_in_as(
    page: Page,
    email: str,
    password: str = PASSWORD,
    *,
    words: tuple[str, str, str] = ("Email", "Password", "Sign in"),
) -> None:
    """Sign in with an email and a password (the sign-in screen's first tab)."""
    email_label, password_label, go = words
    form = page.locator("#signin-form")
    await form.get_by_label(email_label).fill(email)
    await form.get_by_label(password_label).fill(password)
    await form.get_by_role("button", name=go).click()
