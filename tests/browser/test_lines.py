"""A concert's own line in the browser: the pre-queue before its opening, the draw that
places everyone at it, and the end of the wait when every seat is sold."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from tests.browser.conftest import Pages, Server
from tests.browser.steps import (
    concert_line,
    drawn_first,
    join,
    join_line,
    own_line,
    sign_in,
    stored,
)

OPENS_IN_SECONDS = 6  # time enough to join and see the countdown before the opening


async def test_a_fan_in_the_pre_queue_counts_down_is_drawn_a_place_at_the_opening_and_let_in(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    api = server.api
    show = await api.make_show(title="Dawn Chorus")
    early = [await api.register(f"early{i}") for i in range(2)]
    fan = await pages.open(server)
    page = fan.page
    await sign_in(page, "Mina")

    opens = datetime.now(UTC) + timedelta(seconds=OPENS_IN_SECONDS)
    # Nobody is let in until the operator raises the pace, so the drawn places show.
    await own_line(
        api, show.concert_id, capacity=3, admissionPerMinute=0, salesOpenAt=opens.isoformat()
    )
    for other in early:
        assert (await join_line(api, other, show.concert_id))["status"] == "PRE_QUEUE"
    await join(page, label="Join the line for Dawn Chorus")
    await expect(page.locator("#prequeue-text")).to_have_text(
        re.compile(
            r"^The sale opens at .+\. Everyone who joins before then gets a fair place by "
            r"draw — no need to hurry or refresh\.$"
        )
    )
    await expect(page.locator("#position")).to_be_hidden()
    await expect(page).to_have_title("Sale opens soon — boxoffice")
    countdown = page.locator("#opens-countdown")
    await expect(countdown).to_have_text(re.compile(r"^0:0\d$"))
    left = int(await countdown.get_attribute("data-seconds") or "-1")
    assert 0 < left <= OPENS_IN_SECONDS, left
    await expect(page.locator("#line-seats")).to_have_text("50 seats left")

    # At the opening the three are ordered by one draw; anyone can check it from the seed.
    await expect(page.locator("#position")).to_be_visible(timeout=15_000)
    await expect(page.locator("#prequeue")).to_be_hidden()
    draw = (await concert_line(api, show.concert_id))["draw"]
    me = await stored(page, "user", "userId")
    order = drawn_first(draw["seed"], [f.user_id for f in early] + [me])
    ahead = order.index(me)
    expected = {0: "You're next!", 1: "1 person ahead of you", 2: "2 people ahead of you"}
    await expect(page.locator("#position")).to_have_text(expected[ahead])
    await expect(page).to_have_title(f"#{ahead + 1} in line — boxoffice")

    r = await api.client.patch(
        f"/api/v1/admin/concerts/{show.concert_id}/waiting-room",
        json={"admissionPerMinute": 60},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    await expect(page.get_by_role("heading", name="It's your turn!")).to_be_visible()
    await expect(page.locator("#dates button")).to_have_count(1)  # Dawn Chorus's one date


async def test_a_waiting_fan_is_told_when_the_last_seat_sells_and_may_leave_in_korean(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    api = server.api
    show = await api.make_show(title="Tiny Room", seats=1, price=10_000)
    # One admission a minute: the buyer takes it, and the fan waits behind.
    await own_line(api, show.concert_id, capacity=10, admissionPerMinute=1)
    buyer = await api.register("buyer")
    await api.charge(buyer, 10_000)
    assert (await join_line(api, buyer, show.concert_id))["status"] == "ADMITTED"

    fan = await pages.open(server, locale="ko-KR")
    page = fan.page
    await sign_in(page, "하늘", label="이름", go="계속")
    await join(page, label="Tiny Room 대기열 입장")
    await expect(page.locator("#position")).to_have_text("다음 차례입니다!")
    await expect(page.locator("#line-seats")).to_have_text("1석 남음")

    reservation = (await api.hold(buyer, show, seat_number=1)).json()["reservationId"]
    assert (await api.pay(buyer, reservation)).status_code == 201
    await expect(page.locator("#soldout-text")).to_have_text(
        "매진: Tiny Room의 모든 좌석이 팔렸습니다."
    )
    await expect(page.locator("#soldout")).to_contain_text("더 기다릴 좌석이 없습니다.")
    await expect(page.locator("#placed")).to_be_hidden()
    await expect(page.locator("#line-seats")).to_be_hidden()
    await expect(page).to_have_title("매진 — boxoffice")

    await page.locator("#soldout").get_by_role("button", name="대기열 나가기").click()
    await expect(page.get_by_role("heading", name="공연")).to_be_visible()
    fan.expect(409, "/api/v1/queue/tokens")  # joining again is refused, in words
    await join(page, label="Tiny Room 대기열 입장")
    await expect(page.locator("#notice")).to_have_text(
        "Tiny Room은(는) 매진되어 기다릴 좌석이 없습니다."
    )
