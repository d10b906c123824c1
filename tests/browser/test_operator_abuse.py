"""The control room against a flood: the operator sees the address holding the most
places, caps places per address and asks for proof of work, sees the joins refused
for it charted, and takes the flooding address's fans out of the line; in English and
in Korean, in both shapes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import Pages, Server, keep_screenshot
from tests.browser.test_operator import confirm, operator_signs_in
from tests.support import Fan

FLOODER = "127.0.0.66"  # every 127.0.0.x is this machine: each one is an address of its own
OTHERS = {"127.0.0.11": 2, "127.0.0.12": 1}
FLOOD = 6


class Addresses:
    """One client per source address, all against the same server."""

    def __init__(self, server: Server, stack: AsyncExitStack) -> None:
        self.server = server
        self.stack = stack
        self.clients: dict[str, httpx.AsyncClient] = {}

    async def client(self, address: str) -> httpx.AsyncClient:
        if address not in self.clients:
            transport = httpx.AsyncHTTPTransport(local_address=address)
            client = httpx.AsyncClient(base_url=self.server.url, transport=transport, timeout=30)
            self.clients[address] = await self.stack.enter_async_context(client)
        return self.clients[address]

    async def fan(self, address: str, name: str) -> Fan:
        """A guest signed up from ``address``."""
        r = await (await self.client(address)).post("/api/v1/users", json={"name": name})
        assert r.status_code == 201, r.text
        return Fan(user_id=r.json()["userId"], access_token=r.json()["accessToken"])

    async def join(self, address: str, fan: Fan) -> httpx.Response:
        """The fan joins the default line from ``address``."""
        r = await (await self.client(address)).post("/api/v1/queue/tokens", headers=fan.access)
        if r.status_code in (200, 201):
            fan.queue_token = r.json()["token"]
        return r


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as opened:
        yield opened


async def crowd(addresses: Addresses) -> tuple[list[Fan], dict[str, list[Fan]]]:
    """FLOOD fans from FLOODER and a few from other addresses, each with a place."""
    flood = [await addresses.fan(FLOODER, f"bot{i}") for i in range(FLOOD)]
    for fan in flood:
        assert (await addresses.join(FLOODER, fan)).status_code == 201
    others: dict[str, list[Fan]] = {}
    for address, n in OTHERS.items():
        others[address] = [await addresses.fan(address, f"fan{i}") for i in range(n)]
        for fan in others[address]:
            assert (await addresses.join(address, fan)).status_code == 201
    return flood, others


async def line(server: Server) -> dict[str, object]:
    r = await server.api.client.get("/api/v1/admin/waiting-room", headers=server.api.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def address_row(page: Page, address: str) -> Locator:
    return page.locator(f'#top-addresses tr[data-address="{address}"]')


def refused_row(page: Page, reason: str) -> Locator:
    return page.locator(f'#refusal-totals tr[data-reason="{reason}"]')


async def the_operator_sees_and_removes_a_flooding_address(
    server: Server, pages: Pages, addresses: Addresses
) -> None:
    flood, others = await crowd(addresses)
    assert (await line(server))["placesPerAddress"] is None  # the tests' servers: no cap

    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    await operator_signs_in(page)
    await expect(page.locator("#stat-waiting")).to_have_text(str(FLOOD + 3))
    await expect(page.locator("#stat-placesPerAddress")).to_have_text("No cap")
    await expect(page.locator("#stat-challenge")).to_have_text("Off")
    await expect(page.locator("#addresses-line")).to_have_text(
        "Live places in the default line, by client address."
    )
    rows = page.locator("#top-addresses tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_have_attribute("data-address", FLOODER)  # most places first
    await expect(rows.first.locator('[data-field="places"]')).to_have_text(str(FLOOD))
    await expect(address_row(page, "127.0.0.11").locator('[data-field="places"]')).to_have_text("2")
    await expect(page.locator("#refusal-totals")).to_have_text("Nothing refused yet.")

    # A cap of 3 places an address: set in the controls, visibly in force.
    await expect(page.get_by_label("No cap")).to_be_checked()
    await expect(page.get_by_label("Places per address")).to_be_disabled()
    await page.get_by_label("No cap").uncheck()
    await page.get_by_label("Places per address").fill("3")
    await page.get_by_role("button", name="Apply").click()
    await confirm(page, "Change Places per address 3?")
    await expect(page.locator("#stat-placesPerAddress")).to_have_text("3")
    assert (await line(server))["placesPerAddress"] == 3

    # One more join from the flooding address is refused, and the panel shows it.
    bot = await addresses.fan(FLOODER, "bot-late")
    refused = await addresses.join(FLOODER, bot)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "rate_limited"
    row = refused_row(page, "places_per_address")
    await expect(row).to_contain_text("Over the places-per-address cap")
    await expect(row.locator('[data-field="total"]')).to_have_text("1")
    await expect(row.locator('[data-field="lastMinute"]')).to_have_text("1")
    two_points = re.compile(r"^[\d.]+,[\d.]+ [\d.]+,[\d.]+")
    chart_line = page.locator('#refusals-chart polyline[data-name="places_per_address"]')
    await expect(chart_line).to_have_attribute("points", two_points)
    # ... and a refusal is drawn as a peak: one refresh's count above the ones around it.
    drawn = await chart_line.get_attribute("points") or ""
    assert min(float(p.split(",")[1]) for p in drawn.split()) < 100, drawn  # the 0 is at 136

    # Remove all: the flooding address's fans are out, its queue tokens dead.
    await page.get_by_role("button", name=f"Remove every place of {FLOODER}").click()
    await confirm(page, f"Take all {FLOOD} places of {FLOODER} out of the default line?")
    await expect(page.locator("#notice")).to_have_text(
        f"Removed {FLOOD} fans of {FLOODER} from the line."
    )
    await expect(address_row(page, FLOODER)).to_have_count(0)
    await expect(rows).to_have_count(2)
    await expect(page.locator("#stat-waiting")).to_have_text("3")
    for fan in flood:
        r = await server.api.status(fan)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "token_expired"
    for fan in [f for fans in others.values() for f in fans]:
        assert (await server.api.status(fan)).status_code == 200

    # One fan by user no.
    lone = others["127.0.0.12"][0]
    await page.get_by_label("Fan's user no.").fill(str(lone.user_id))
    await page.get_by_role("button", name="Remove from the line").click()
    await confirm(page, f"Take user #{lone.user_id} out of the default line?")
    removed = f"User #{lone.user_id} removed from the line."
    await expect(page.locator("#notice")).to_have_text(removed)
    await expect(address_row(page, "127.0.0.12")).to_have_count(0)
    assert (await server.api.status(lone)).status_code == 401

    # Proof of work: a join without it is refused, and counted under its own reason.
    await page.get_by_label("Proof of work").select_option(label="Medium")
    await page.get_by_role("button", name="Apply").click()
    await confirm(page, "Change Proof of work Medium?")
    await expect(page.locator("#stat-challenge")).to_have_text("Medium")
    assert (await line(server))["challenge"] == "medium"
    newcomer = await addresses.fan("127.0.0.13", "newcomer")
    r = await addresses.join("127.0.0.13", newcomer)
    assert r.status_code == 403 and r.json()["code"] == "challenge_required", r.text
    row = refused_row(page, "challenge_required")
    await expect(row.locator('[data-field="total"]')).to_have_text("1")
    await expect(page.locator("#refusal-totals tbody tr")).to_have_count(2)
    await expect(
        page.locator('#refusals-chart polyline[data-name="challenge_required"]')
    ).to_have_attribute("points", two_points)
    await keep_screenshot(room, "operator-abuse")

    # The same in Korean.
    await page.get_by_role("button", name="한국어로 보기").click()
    await expect(page.get_by_role("heading", name="거부된 요청", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name="자리를 가장 많이 차지한 주소")).to_be_visible()
    await expect(row).to_contain_text("작업 증명 없는 입장")
    await expect(page.locator("#stat-challenge")).to_have_text("보통")
    await expect(page.locator("#stat-placesPerAddress")).to_have_text("3")
    await expect(page.get_by_label("작업 증명")).to_have_value("medium")
    remove_all = address_row(page, "127.0.0.11").get_by_role("button")
    await expect(remove_all).to_have_text("모두 내보내기")
    await keep_screenshot(room, "operator-abuse-ko")

    # Back to no cap, from the form.
    await page.get_by_label("제한 없음").check()
    await page.get_by_role("button", name="적용").click()
    await confirm_ko(page, "주소당 자리 수 제한 없음(으)로 바꿀까요?")
    await expect(page.locator("#stat-placesPerAddress")).to_have_text("제한 없음")
    assert (await line(server))["placesPerAddress"] is None


async def confirm_ko(page: Page, question: str) -> None:
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(question)
    await dialog.get_by_role("button", name="확인").click()
    await expect(dialog).to_be_hidden()


async def test_the_operator_sees_and_removes_a_flooding_address_embedded(
    start_server: Callable[..., Server], pages: Pages, stack: AsyncExitStack
) -> None:
    server = start_server(admission_capacity="0")
    await the_operator_sees_and_removes_a_flooding_address(server, pages, Addresses(server, stack))


async def test_the_operator_sees_and_removes_a_flooding_address_production(
    start_server: Callable[..., Server],
    pages: Pages,
    stack: AsyncExitStack,
    postgres_url: str,
    redis_prefix: str,
) -> None:
    server = start_server(postgres=(postgres_url, redis_prefix), admission_capacity="0")
    await the_operator_sees_and_removes_a_flooding_address(server, pages, Addresses(server, stack))


async def test_a_concerts_own_line_gets_its_defences_and_its_flooder_removed(
    start_server: Callable[..., Server], pages: Pages, stack: AsyncExitStack
) -> None:
    server = start_server(admission_capacity="0")
    addresses = Addresses(server, stack)
    room = await pages.open(server, "/operator", name="operator")
    page = room.page
    room.expect(404, "/api/v1/admin/concerts/2/waiting-room")  # none of its own yet
    await operator_signs_in(page)
    await page.get_by_label("Line", exact=True).select_option(label="The Midnight Brass")
    await expect(page.locator("#no-line")).to_be_visible()
    await expect(page.locator("#abuse")).to_be_hidden()

    # Its own line, with a cap of 2 an address and no proof of work, from the form.
    await page.get_by_label("No cap").uncheck()
    await page.get_by_label("Places per address").fill("2")
    await page.get_by_label("Proof of work").select_option("off")
    await page.get_by_role("button", name="Give it a line of its own").click()
    await confirm(page, "Places per address 2, Proof of work Off?")
    await expect(page.locator("#stat-placesPerAddress")).to_have_text("2")
    r = await server.api.client.get(
        "/api/v1/admin/concerts/2/waiting-room", headers=server.api.admin
    )
    assert (r.json()["placesPerAddress"], r.json()["challenge"]) == (2, "off"), r.text

    flooder = "127.0.0.21"
    bots = [await addresses.fan(flooder, f"bot{i}") for i in range(3)]
    client = await addresses.client(flooder)
    answers = [
        await client.post("/api/v1/queue/tokens", json={"concertId": 2}, headers=bot.access)
        for bot in bots
    ]
    assert [a.status_code for a in answers] == [201, 201, 429], [a.text for a in answers]
    await expect(page.locator("#addresses-line")).to_have_text(
        "Live places in the line of The Midnight Brass, by client address."
    )
    await expect(address_row(page, flooder).locator('[data-field="places"]')).to_have_text("2")
    await expect(
        refused_row(page, "places_per_address").locator('[data-field="total"]')
    ).to_have_text("1")

    await page.get_by_role("button", name=f"Remove every place of {flooder}").click()
    await confirm(page, f"Take all 2 places of {flooder} out of the line of The Midnight Brass?")
    await expect(page.locator("#notice")).to_have_text(
        f"Removed 2 fans of {flooder} from the line."
    )
    await expect(page.locator("#top-addresses")).to_have_text("Nobody holds a place in this line.")
    for answer in answers[:2]:
        token = {"Authorization": f"Bearer {answer.json()['token']}"}
        r = await server.api.client.get("/api/v1/queue/status", headers=token)
        assert (r.status_code, r.json()["code"]) == (401, "token_expired"), r.text
