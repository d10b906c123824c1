"""Pictures for docs/screenshots/, in Korean and English, on a desktop and a phone:
the fan page's seat map and order hold; the ticket cards of a paid order of two
grades and "My tickets"; the control room's sales per concert and date after that
purchase; and (desktop) the dates to choose seen from New York, on Seoul's clock.
Not a test: run it after changing how booking looks, and look at the pictures.

    .venv/bin/python -m tests.browser.screenshots [folder]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import (
    Browser,
    FloatRect,
    Locator,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.browser.steps import AURORA, open_first_date, seat, sign_in
from tests.integration.instances import Instance, instance_env
from tests.support import ADMIN_TOKEN

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONCERT = "Neon Harbor Live"  # the demo's plan with VIP, R, S and A seats
SEAT_PLANS = 232  # Neon Harbor Live's seats a show
WORDS = {
    "en": ("en-US", "Your name", "Continue", f"Join the line for {CONCERT}", "Hold these seats"),
    "ko": ("ko-KR", "이름", "계속", f"{CONCERT} 대기열 입장", "좌석 선택 완료"),
}
DEVICES: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
assert DESKTOP["width"] == 1280


async def simple(page: Page, lang: str, device: str, folder: Path) -> None:
    """The simple form (one section, one grade): 50 seats, ten a line."""
    _, label, go, *_ = WORDS[lang]
    await sign_in(page, f"{lang}-{device}", label=label, go=go)
    name = {"en": f"Join the line for {AURORA}", "ko": f"{AURORA} 대기열 입장"}[lang]
    await page.get_by_role("button", name=name).click()
    await open_first_date(page)
    await page.locator("#seatmap").scroll_into_view_if_needed()
    await page.screenshot(path=str(folder / f"seatmap-simple-{lang}-{device}.png"), full_page=True)


async def picture(page: Page, lang: str, device: str, folder: Path) -> None:
    _, label, go, join, hold = WORDS[lang]
    await sign_in(page, f"{lang}-{device}", label=label, go=go)
    await page.get_by_role("button", name=join).click()
    await open_first_date(page, seats=232)
    await page.locator("#count button", has_text="2").click()
    await seat(page, 3).click()  # Floor A, row A: VIP
    await seat(page, 35).click()  # Floor A, row C: R
    if device == "phone":
        await page.get_by_role("button", name={"en": "Zoom in", "ko": "확대"}[lang]).click()
    await page.locator("#seatmap").scroll_into_view_if_needed()
    await page.screenshot(path=str(folder / f"seatmap-{lang}-{device}.png"), full_page=True)
    await page.get_by_role("button", name=hold).click()
    await expect(page.locator("#hold-seats li")).to_have_count(2)
    await page.screenshot(path=str(folder / f"order-{lang}-{device}.png"), full_page=True)
    await page.locator("#release").click()  # the seats again for the next picture
    await expect(page.locator("#seatmap")).to_be_visible()


async def sideways(page: Page, name: str) -> None:
    """Say (not fail) when a phone's page scrolls sideways: a picture hides it."""
    wide = await page.evaluate("() => document.documentElement.scrollWidth")
    if wide > await page.evaluate("() => document.documentElement.clientWidth") + 1:
        print(f"{name}: the page is {wide}px wide, it scrolls sideways")


async def shoot(page: Page, part: Locator, device: str, path: Path, *, whole: bool = True) -> None:
    """A desktop's picture is the card; a phone's the whole page (or, not ``whole``,
    the card too: a long page's card reads better alone)."""
    if device == "phone":
        await sideways(page, path.name)
    if device == "phone" and whole:
        await page.screenshot(path=str(path), full_page=True)
    else:
        await part.screenshot(path=str(path))


async def purchase(page: Page, lang: str, device: str, folder: Path, run: int) -> None:
    """Charge points with the page's buttons, hold a VIP and an R seat of the second
    date (the first stays free for the seat map's pictures; each run its own seats),
    pay; the ticket cards, then "My tickets"."""
    _, label, go, join, hold = WORDS[lang]
    await sign_in(page, f"buyer-{lang}-{device}", label=label, go=go)
    balance = page.locator("#balance")
    for charged in ("100000", "200000", "300000"):
        await page.locator('#charges button[data-amount="100000"]').click()
        await expect(balance).to_have_attribute("data-balance", charged)
    await page.get_by_role("button", name=join).click()
    await expect(page.locator("#booking")).to_be_visible()
    await page.locator("#dates button").nth(1).click()
    await expect(page.locator("#seats .seat")).to_have_count(SEAT_PLANS)
    await page.locator("#count button", has_text="2").click()
    await seat(page, 3 + run).click()  # Floor A, row A: VIP
    await seat(page, 35 + run).click()  # Floor A, row C: R
    await page.get_by_role("button", name=hold).click()
    await expect(page.locator("#hold-seats li")).to_have_count(2)
    await page.locator("#pay").click()
    cards = page.locator("#ticket-facts .ticket-card")
    await expect(cards).to_have_count(2)
    await expect(balance).to_have_attribute("data-balance", "14000")
    await shoot(page, page.locator("#ticket"), device, folder / f"ticket-{lang}-{device}.png")
    await page.locator("#mine-toggle").click()
    await expect(page.locator("#mine-list .ticket-card")).to_have_count(2)
    await expect(page.locator("#ledger tbody tr").first).to_be_visible()
    await page.locator("#mine").scroll_into_view_if_needed()
    mine = page.locator("#mine")
    await shoot(page, mine, device, folder / f"tickets-{lang}-{device}.png", whole=False)


async def sales(page: Page, lang: str, device: str, folder: Path) -> None:
    """The control room's sales per concert and date, the purchase's two seats in it."""
    await page.locator("#admin-token").fill(ADMIN_TOKEN)
    await page.locator("#signin-form button").click()
    await expect(page.locator("#room")).to_be_visible()
    sold = page.locator('#sales tr.concert[data-id="3"] [data-field="sold"]')
    await expect(sold).not_to_have_text("0")
    part = page.locator("section", has=page.locator("#sales"))
    await part.scroll_into_view_if_needed()
    await shoot(page, part, device, folder / f"sales-{lang}-{device}.png", whole=False)


async def venue_time(page: Page, lang: str, device: str, folder: Path) -> None:
    """From New York, the dates to choose and the seat map's title on Seoul's clock."""
    _, label, go, join, _ = WORDS[lang]
    await sign_in(page, f"ny-{lang}", label=label, go=go)
    await page.get_by_role("button", name=join).click()
    await open_first_date(page, seats=SEAT_PLANS)
    print(f"venue-time-ny-{lang}: {await page.locator('#dates button').all_inner_texts()}")
    await page.evaluate("() => window.scrollTo(0, 0)")  # boxes in the page's coordinates
    top = await page.locator("#booking").bounding_box()
    end = await page.locator("#grades").bounding_box()
    assert top and end
    height = end["y"] + end["height"] + 8 - top["y"]  # short of the map's frame
    clip: FloatRect = {"x": top["x"], "y": top["y"], "width": top["width"], "height": height}
    path = folder / f"venue-time-ny-{lang}-{device}.png"
    await page.screenshot(path=str(path), clip=clip, full_page=True)


async def away(browser: Browser, url: str, locale: str, lang: str, folder: Path) -> None:
    """A desktop in New York."""
    context = await browser.new_context(
        base_url=url, locale=locale, viewport=DEVICES["desktop"], timezone_id="America/New_York"
    )
    page = await context.new_page()
    await page.goto("/")
    await venue_time(page, lang, "desktop", folder)
    await context.close()


async def main(folder: Path) -> None:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = instance_env(
            database_url=f"sqlite:///{tmp}/boxoffice.db",
            redis_url="",
            redis_prefix="unused:",
            load_demo_data="true",
            access_log="false",
        )
        del env["BOXOFFICE_REDIS_URL"]
        server = Instance(env, Path(tmp), "serve")
        server.start()
        try:
            server.wait_ready()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS
                )
                run = 0
                for lang, (locale, *_) in WORDS.items():
                    for device, viewport in DEVICES.items():
                        context = await browser.new_context(
                            base_url=server.url,
                            locale=locale,
                            viewport=viewport,
                            timezone_id="Asia/Seoul",
                        )
                        for draw in (picture, simple):
                            page = await context.new_page()
                            await page.goto("/")
                            await draw(page, lang, device, folder)
                            await page.evaluate("localStorage.clear()")
                            await page.close()
                        page = await context.new_page()
                        await page.goto("/")
                        await purchase(page, lang, device, folder, run)
                        await page.evaluate("localStorage.clear()")
                        await page.close()
                        page = await context.new_page()
                        await page.goto("/operator")
                        await sales(page, lang, device, folder)
                        await page.close()
                        await context.close()
                        run += 1
                    await away(browser, server.url, locale, lang, folder)
                await browser.close()
        finally:
            server.stop()
    print(f"pictures in {folder}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
