"""What a fan does on the page, step by step, in the words the page shows."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Locator, Page, expect

AURORA = "Aurora Strings: Winter Nights"  # the demo catalog's first concert, 30,000 a seat


async def sign_in(page: Page, name: str, *, label: str = "Your name", go: str = "Continue") -> None:
    await page.get_by_label(label).fill(name)
    await page.get_by_role("button", name=go).click()
    await expect(page.locator("#balance")).to_have_attribute("data-balance", re.compile(r"^\d+$"))


async def join(page: Page, *, label: str = f"Join the line for {AURORA}") -> None:
    await page.get_by_role("button", name=label).click()


async def open_first_date(page: Page) -> None:
    await expect(page.locator("#booking")).to_be_visible()
    await page.locator("#dates button").first.click()
    await expect(page.locator("#seats .seat")).to_have_count(50)


def seat(page: Page, number: int) -> Locator:
    return page.locator(f'#seats .seat[data-seat-number="{number}"]')


async def stored(page: Page, *path: str | int) -> Any:
    """A value from the page's saved state (localStorage), e.g. ("line", "token")."""
    value = await page.evaluate("() => JSON.parse(localStorage.getItem('boxoffice.fan'))")
    for key in path:
        value = value[key]
    return value
