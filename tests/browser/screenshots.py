"""Pictures of the fan page's seat map and order hold, in Korean and English, on a
desktop and a phone, for docs/screenshots/. Not a test: run it after changing how
booking looks, and look at the pictures.

    .venv/bin/python -m tests.browser.screenshots [folder]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, ViewportSize, async_playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.browser.steps import AURORA, open_first_date, seat, sign_in
from tests.integration.instances import Instance, instance_env

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONCERT = "Neon Harbor Live"  # the demo's plan with VIP, R, S and A seats
WORDS = {
    "en": ("en-US", "Your name", "Continue", f"Join the line for {CONCERT}", "Hold these seats"),
    "ko": ("ko-KR", "이름", "계속", f"{CONCERT} 대기열 입장", "좌석 선택 완료"),
}
DEVICES: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
assert DESKTOP["width"] == 1280


async def simple(page: Page, lang: str, device: str, folder: Path) -> None:
    """The simple form (one section, one grade): 50 seats, ten a line."""
    locale, label, go, *_ = WORDS[lang]
    await sign_in(page, f"{lang}-{device}", label=label, go=go)
    name = {"en": f"Join the line for {AURORA}", "ko": f"{AURORA} 대기열 입장"}[lang]
    await page.get_by_role("button", name=name).click()
    await open_first_date(page)
    await page.locator("#seatmap").scroll_into_view_if_needed()
    await page.screenshot(path=str(folder / f"seatmap-simple-{lang}-{device}.png"), full_page=True)


async def picture(page: Page, lang: str, device: str, folder: Path) -> None:
    locale, label, go, join, hold = WORDS[lang]
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


async def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
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
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for lang, (locale, *_) in WORDS.items():
                    for device, viewport in DEVICES.items():
                        context = await browser.new_context(
                            base_url=server.url, locale=locale, viewport=viewport, timezone_id="Asia/Seoul"
                        )
                        for draw in (picture, simple):
                            page = await context.new_page()
                            await page.goto("/")
                            await draw(page, lang, device, folder)
                            await page.evaluate("localStorage.clear()")
                            await page.close()
                        await context.close()
                await browser.close()
        finally:
            server.stop()
    print(f"pictures in {folder}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
