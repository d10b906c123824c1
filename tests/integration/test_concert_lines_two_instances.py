"""Two concerts on sale at once, each through a line of its own with its own opening,
on two real ``boxoffice serve`` processes sharing one PostgreSQL and one Redis: each
line's pre-queue is drawn once (the same order on both instances), admits up to its
own capacity, lets its fans book its own concert only, and closes when that concert
sells out while the other line goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxoffice.queue.model import draw_rank
from boxoffice.storage import audit
from boxoffice.storage.db import Database
from tests.conftest import REDIS_URL
from tests.integration.instances import (
    Instance,
    clients_of,
    gather_limited,
    instance_env,
    running_pair,
)
from tests.integration.test_multi_instance import ADMIN, Fan, bearer, make_show, register

FANS_PER_LINE = 12
SEATS, PRICE = 6, 500  # each admitted fan holds two seats and pays for both
CAPACITY = {"A": 3, "B": 2}


@pytest.fixture
def instances(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[list[Instance]]:
    env = instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        waiter_timeout_seconds="600",
        admitted_idle_seconds="600",
        max_holds_per_user="2",
    )
    with running_pair(env, tmp_path) as pair:
        yield pair


@pytest.fixture
async def clients(instances: list[Instance]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with clients_of(instances, connections=50) as made:
        yield made


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never came true"
        await asyncio.sleep(0.1)


async def test_two_concert_lines_with_openings_on_two_instances(
    clients: list[httpx.AsyncClient], postgres_url: str
) -> None:
    def on(i: int) -> httpx.AsyncClient:
        return clients[i % 2]

    concerts = {
        name: (await make_show(on(i), seats=SEATS, price=PRICE)) for i, name in enumerate("AB")
    }
    fans = {
        name: await gather_limited(register(on(i), f"{name}{i}") for i in range(FANS_PER_LINE))
        for name in "AB"
    }
    for name in "AB":
        charges = await gather_limited(
            on(i).post(
                "/api/v1/wallet/charges", json={"amount": 2 * PRICE}, headers=bearer(f.access)
            )
            for i, f in enumerate(fans[name])
        )
        assert {r.status_code for r in charges} == {200}

    # Each concert gets its own line, set up through a different instance, opening soon.
    opens = {
        "A": datetime.now(UTC) + timedelta(seconds=3),
        "B": datetime.now(UTC) + timedelta(seconds=4),
    }
    for i, name in enumerate("AB"):
        concert_id, _ = concerts[name]
        r = await on(i).put(
            f"/api/v1/admin/concerts/{concert_id}/waiting-room",
            json={
                "capacity": CAPACITY[name],
                "admissionPerMinute": 1_000,
                "salesOpenAt": opens[name].isoformat(),
            },
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text

    # Everyone joins before the openings, half through each instance: a pre-queue.
    async def join(i: int, name: str, fan: Fan) -> dict[str, Any]:
        r = await on(i).post(
            "/api/v1/queue/tokens",
            json={"concertId": concerts[name][0]},
            headers=bearer(fan.access),
        )
        assert r.status_code == 201, r.text
        fan.queue = r.json()["token"]
        return dict(r.json())

    for name in "AB":
        joined = await gather_limited(join(i, name, f) for i, f in enumerate(fans[name]))
        assert {(j["status"], j["position"]) for j in joined} == {("PRE_QUEUE", None)}
    assert datetime.now(UTC) < opens["A"], "the joins took longer than the run allows"

    # After both openings, each line is in its own draw's order, as seen by either
    # instance: its first CAPACITY fans admitted, the rest waiting 1, 2, ...
    await asyncio.sleep(max(0.0, (opens["B"] - datetime.now(UTC)).total_seconds()) + 1)
    for name in "AB":
        concert_id, _ = concerts[name]
        view = (
            await on(0).get(f"/api/v1/admin/concerts/{concert_id}/waiting-room", headers=ADMIN)
        ).json()
        seed = view["draw"]["seed"]
        assert seed is not None
        order = sorted(fans[name], key=lambda f: (draw_rank(seed, f.user_id), str(f.user_id)))
        expected = [("ADMITTED", 0)] * CAPACITY[name] + [
            ("WAITING", p) for p in range(1, FANS_PER_LINE - CAPACITY[name] + 1)
        ]

        async def in_draw_order(
            shift: int, order: list[Fan] = order, expected: list[tuple[str, int]] = expected
        ) -> bool:
            seen = await gather_limited(
                on(i + shift).get("/api/v1/queue/status", headers=bearer(f.queue))
                for i, f in enumerate(order)
            )
            return [(s.json()["status"], s.json()["position"]) for s in seen] == expected

        await _until(lambda: in_draw_order(0))
        await _until(lambda: in_draw_order(1))  # the other instance says the same

    # The gate: a fan admitted by A's line may book A only.
    admitted = {name: [] for name in "AB"}  # type: dict[str, list[Fan]]
    for name in "AB":
        for f in fans[name]:
            r = await on(0).get("/api/v1/queue/status", headers=bearer(f.queue))
            if r.json()["status"] == "ADMITTED":
                admitted[name].append(f)
        assert len(admitted[name]) == CAPACITY[name]
    a_fan = admitted["A"][0]
    for name, want in (("A", 200), ("B", 403)):
        concert_id, _ = concerts[name]
        r = await on(1).get(f"/api/v1/concerts/{concert_id}/schedules", headers=bearer(a_fan.queue))
        assert r.status_code == want, r.text

    # A's admitted fans buy every seat of A, two each (both held, then both paid: the
    # visit ends with the last live hold), through both instances.
    _, schedule_a = concerts["A"]
    for k, f in enumerate(admitted["A"]):
        held = []
        for n in (2 * k + 1, 2 * k + 2):
            r = await on(n).post(
                "/api/v1/reservations",
                json={"scheduleId": schedule_a, "seatNumber": n},
                headers=bearer(f.queue),
            )
            assert r.status_code == 201, r.text
            held.append(r.json()["reservationId"])
        for n, reservation_id in enumerate(held):
            r = await on(n + 1).post(
                "/api/v1/payments", json={"reservationId": reservation_id}, headers=bearer(f.queue)
            )
            assert r.status_code == 201, r.text

    # A's line closes: its waiting fans hear SOLD_OUT on either instance, a new fan is
    # refused; B's line goes on as it was.
    waiting_a = [f for f in fans["A"] if f not in admitted["A"]]

    async def a_sold_out() -> bool:
        seen = await gather_limited(
            on(i).get("/api/v1/queue/status", headers=bearer(f.queue))
            for i, f in enumerate(waiting_a)
        )
        return {s.json()["status"] for s in seen} == {"SOLD_OUT"}

    await _until(a_sold_out, seconds=5)
    late = await register(on(0), "late")
    for i, (name, want) in enumerate((("A", 409), ("B", 201))):
        r = await on(i).post(
            "/api/v1/queue/tokens",
            json={"concertId": concerts[name][0]},
            headers=bearer(late.access),
        )
        assert r.status_code == want, r.text
    seen_b = await gather_limited(
        on(i).get("/api/v1/queue/status", headers=bearer(f.queue)) for i, f in enumerate(fans["B"])
    )
    assert sorted(s.json()["status"] for s in seen_b) == sorted(
        ["ADMITTED"] * CAPACITY["B"] + ["WAITING"] * (FANS_PER_LINE - CAPACITY["B"])
    )

    db = Database(postgres_url)
    try:
        assert await audit.audit(db) == []
    finally:
        await db.dispose()
