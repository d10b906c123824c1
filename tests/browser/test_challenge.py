"""A line that asks for proof of work, in the browser: the fan's page is refused a
place, solves the line's challenge in its workers while it says so, and joins again
with the solution, in English and in Korean."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Server
from tests.browser.steps import join, sign_in, stored

# What the "checking your browser" line showed, each time it changed: a challenge of
# the lowest level is solved in a blink, quicker than a test could look.
RECORD_CHECKING = """
window.checkingSeen = [];
new MutationObserver(() => {
  const box = document.getElementById("checking");
  if (box && !box.hidden) window.checkingSeen.push(box.querySelector("span").textContent);
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""


async def checking_seen(page: Page) -> list[str]:
    return list(await page.evaluate("() => window.checkingSeen"))


async def test_a_fan_solves_the_lines_challenge_and_gets_a_place(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server(admission_capacity="0")
    r = await server.api.client.patch(
        "/api/v1/admin/waiting-room", json={"challenge": "low"}, headers=server.api.admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["challenge"] == "low"

    fan = await pages.open(server)
    page = fan.page
    fan.expect(403, "/api/v1/queue/tokens")  # the first join, without a proof
    await page.add_init_script(RECORD_CHECKING)
    await page.reload()
    await sign_in(page, "Mina")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(f"{request.method} {request.url}"))

    await join(page)
    await expect(page.locator("#position")).to_have_text("You're next!")
    assert await stored(page, "line", "token")
    seen = await checking_seen(page)
    assert seen and all(re.fullmatch(r"Checking your browser… \d{1,3}%", text) for text in seen)
    await expect(page.locator("#checking")).to_be_hidden()
    joins = [a for a in asked if "/api/v1/queue/" in a]
    assert [a.split("?")[0].rsplit("/", 1)[-1] for a in joins][:3] == [
        "tokens",
        "challenge",
        "tokens",
    ], joins
    assert re.search(r"/api/v1/queue/challenge\?concertId=\d+$", joins[1]), joins

    # A second fan, reading Korean, is told the same in Korean.
    other = await pages.open(server, name="fan-ko", locale="ko-KR")
    other.expect(403, "/api/v1/queue/tokens")
    await other.page.add_init_script(RECORD_CHECKING)
    await other.page.reload()
    await sign_in(other.page, "민아", label="이름", go="계속")
    await other.page.locator("#concert-list button").first.click()
    await expect(other.page.locator("#position")).to_have_attribute("data-position", "2")
    seen = await checking_seen(other.page)
    assert seen and all(re.fullmatch(r"브라우저 확인 중… \d{1,3}%", text) for text in seen)

    line = await server.api.client.get("/api/v1/admin/waiting-room", headers=server.api.admin)
    assert line.json()["waiting"] == 2, line.text
