"""Two real ``boxoffice serve`` processes on one PostgreSQL and one Redis, driven
alternately: every invariant must hold whichever instance answers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

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
from tests.support import eventually

JOINERS = 2_000
CAPACITY = 50
HOLDERS = 1_000
ADMIN = {"Authorization": "Bearer admin-test-token-0123456789"}


@dataclass
class Fan:
    user_id: int
    access: str
    queue: str = ""
    seq: int = 0


@pytest.fixture
def instances(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[list[Instance]]:
    env = instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        admission_capacity=str(CAPACITY),
        admission_per_minute="1000000",
        waiter_timeout_seconds="600",
        admitted_idle_seconds="600",
        max_holds_per_user="2",
    )
    with running_pair(env, tmp_path) as pair:
        yield pair


@pytest.fixture
async def clients(instances: list[Instance]) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with clients_of(instances) as made:
        yield made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, name: str) -> Fan:
    r = await client.post("/api/v1/users", json={"name": name})
    assert r.status_code == 201, r.text
    return Fan(user_id=r.json()["userId"], access=r.json()["accessToken"])


async def join(client: httpx.AsyncClient, fan: Fan) -> dict[str, object]:
    r = await client.post("/api/v1/queue/tokens", headers=bearer(fan.access))
    assert r.status_code == 201, r.text
    fan.queue = r.json()["token"]
    fan.seq = jwt.decode(fan.queue, options={"verify_signature": False})["seq"]
    body: dict[str, object] = r.json()
    return body


async def status(client: httpx.AsyncClient, fan: Fan) -> tuple[str, int]:
    r = await client.get("/api/v1/queue/status", headers=bearer(fan.queue))
    assert r.status_code == 200, r.text
    return r.json()["status"], r.json()["position"]


async def make_show(client: httpx.AsyncClient, *, seats: int, price: int) -> tuple[int, int]:
    r = await client.post(
        "/api/v1/admin/concerts", json={"title": "T", "venue": "V"}, headers=ADMIN
    )
    concert_id = r.json()["concertId"]
    at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = await client.post(
        f"/api/v1/admin/concerts/{concert_id}/schedules",
        json={"concertAt": at, "seatCount": seats, "price": price},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    return concert_id, r.json()["scheduleId"]


async def test_two_instances_keep_every_invariant(
    clients: list[httpx.AsyncClient], postgres_url: str
) -> None:
    a, b = clients

    def on(i: int) -> httpx.AsyncClient:
        return clients[i % 2]

    fans = await gather_limited(register(on(i), f"fan{i}") for i in range(JOINERS))

    # 2,000 simultaneous joins across both instances: positions exactly 1..N.
    joined = await gather_limited((join(on(i), fan) for i, fan in enumerate(fans)), limit=400)
    admitted = [f for f, body in zip(fans, joined, strict=True) if body["status"] == "ADMITTED"]
    waiting = [f for f, body in zip(fans, joined, strict=True) if body["status"] == "WAITING"]
    assert len(admitted) == CAPACITY
    assert sorted(
        int(str(body["position"])) for body in joined if body["status"] == "WAITING"
    ) == list(range(1, JOINERS - CAPACITY + 1))
    assert sorted(f.seq for f in fans) == list(range(1, JOINERS + 1))
    assert {f.seq for f in admitted} == set(range(1, CAPACITY + 1))

    # Polled on the other instance, each waiter stands exactly where arrival order says.
    seen = await gather_limited(status(on(i + 1), f) for i, f in enumerate(waiting))
    assert [pos for _, pos in seen] == [f.seq - CAPACITY for f in waiting]

    # As places free, the earliest live waiters are admitted first.
    leavers = admitted[:10]
    for i, fan in enumerate(leavers):
        r = await on(i).delete("/api/v1/queue/tokens/current", headers=bearer(fan.queue))
        assert r.status_code == 204
    # (Polls are answered from each instance's mirror of the line, which trails
    # Redis by milliseconds: look again until it has caught up.)
    for _ in range(50):
        seen = await gather_limited(status(on(i), f) for i, f in enumerate(waiting))
        now_admitted = {
            f.seq for f, (state, _) in zip(waiting, seen, strict=True) if state == "ADMITTED"
        }
        if len(now_admitted) >= 10:
            break
        await asyncio.sleep(0.1)
    assert now_admitted == set(range(CAPACITY + 1, CAPACITY + 11))
    view = (await a.get("/api/v1/admin/waiting-room", headers=ADMIN)).json()
    assert view["admitted"] == CAPACITY

    # An operator widens the room on one instance; the other follows within a second.
    r = await b.patch("/api/v1/admin/waiting-room", json={"capacity": 5_000}, headers=ADMIN)
    assert r.status_code == 200
    for _ in range(50):  # admission runs on every instance's one-second tick
        await asyncio.sleep(0.2)
        seen = await gather_limited(status(a, f) for f in waiting)
        if {state for state, _ in seen} == {"ADMITTED"}:
            break
    assert {state for state, _ in seen} == {"ADMITTED"}

    # 1,000 concurrent holds of one seat, split across the instances: one winner.
    _, schedule_id = await make_show(a, seats=1, price=1_000)
    holders = waiting[:HOLDERS]
    answers = await gather_limited(
        (
            on(i).post(
                "/api/v1/reservations",
                json={"scheduleId": schedule_id, "seatNumber": 1},
                headers=bearer(f.queue),
            )
            for i, f in enumerate(holders)
        ),
        limit=400,
    )
    assert Counter(r.status_code for r in answers) == {201: 1, 409: HOLDERS - 1}

    # Charges and payments: money for one seat each, two seats held, both paid at once.
    buyers = waiting[HOLDERS : HOLDERS + 100]
    price = 3_000
    charges = await gather_limited(
        on(i).post("/api/v1/wallet/charges", json={"amount": 1_000}, headers=bearer(f.access))
        for i, f in enumerate(buyers * 3)
    )
    assert {r.status_code for r in charges} == {200}
    _, schedule_id = await make_show(b, seats=2 * len(buyers), price=price)
    holds = await gather_limited(
        on(i).post(
            "/api/v1/reservations",
            json={"scheduleId": schedule_id, "seatNumber": n},
            headers=bearer(buyers[(n - 1) // 2].queue),
        )
        for i, n in enumerate(range(1, 2 * len(buyers) + 1))
    )
    assert {r.status_code for r in holds} == {201}
    payments = await gather_limited(
        on(i).post(
            "/api/v1/payments",
            json={"reservationId": r.json()["reservationId"]},
            headers=bearer(buyers[i // 2].queue),
        )
        for i, r in enumerate(holds)
    )
    assert Counter(r.status_code for r in payments) == {201: len(buyers), 402: len(buyers)}
    balances = await gather_limited(
        on(i).get("/api/v1/wallet", headers=bearer(f.access)) for i, f in enumerate(buyers)
    )
    assert {r.json()["balance"] for r in balances} == {0}

    db = Database(postgres_url)
    try:
        assert await audit.audit(db) == []
    finally:
        await db.dispose()


async def test_each_instance_says_when_its_mirror_of_the_line_is_whole(
    clients: list[httpx.AsyncClient], instances: list[Instance]
) -> None:
    """/metrics has the mirror's state by line, and the log how long a load took."""
    fan = await register(clients[0], "watcher")
    await join(clients[0], fan)  # the default line exists, and is followed

    async def every_mirror_whole() -> bool:
        for client in clients:
            text = (await client.get("/metrics")).text
            if 'boxoffice_queue_mirror_synced{line="default"} 1.0' not in text:
                return False
        return True

    await eventually(every_mirror_whole, within=10)
    for instance in instances:
        assert "waiting-room mirror loaded default: " in instance.log_path.read_text()
