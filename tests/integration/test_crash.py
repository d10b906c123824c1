"""SIGKILL one of two instances in the middle of a load of holds and payments."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from boxoffice.storage import audit
from boxoffice.storage.db import Database
from boxoffice.storage.tables import payments, reservations
from tests.conftest import REDIS_URL
from tests.integration.instances import Instance, gather_limited, instance_env, running_pair
from tests.integration.test_multi_instance import Fan, bearer, join, make_show, register

FANS = 300
PRICE = 1_000


@pytest.fixture
def pair(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[list[Instance]]:
    env = instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        admission_capacity="10000",
        admission_per_minute="1000000",
    )
    with running_pair(env, tmp_path) as made:
        yield made


async def test_a_killed_instance_leaves_nothing_half_done_and_the_other_keeps_serving(
    pair: list[Instance], postgres_url: str
) -> None:
    victim, survivor = pair
    limits = httpx.Limits(max_connections=100, keepalive_expiry=1)
    a = httpx.AsyncClient(base_url=victim.url, timeout=30, limits=limits)
    b = httpx.AsyncClient(base_url=survivor.url, timeout=30, limits=limits)
    try:
        fans: list[Fan] = await gather_limited(register(b, f"fan{i}") for i in range(FANS))
        await gather_limited(
            b.post("/api/v1/wallet/charges", json={"amount": PRICE}, headers=bearer(f.access))
            for f in fans
        )
        await gather_limited(join(b, f) for f in fans)
        _, schedule_id = await make_show(b, seats=FANS, price=PRICE)

        held: dict[int, int] = {}  # fan index -> reservation id, for every 201 hold
        paid: dict[int, dict[str, object]] = {}  # reservation id -> the 201 body
        survivor_failures: list[str] = []
        victim_answers = 0
        midway, killed = asyncio.Event(), asyncio.Event()

        async def buy(i: int, fan: Fan) -> None:
            nonlocal victim_answers
            client = a if i % 2 == 0 else b
            try:
                r = await client.post(
                    "/api/v1/reservations",
                    json={"scheduleId": schedule_id, "seatNumber": i + 1},
                    headers=bearer(fan.queue),
                )
                if r.status_code == 201:
                    held[i] = r.json()["reservationId"]
                    r = await client.post(
                        "/api/v1/payments",
                        json={"reservationId": held[i]},
                        headers={**bearer(fan.queue), "Idempotency-Key": f"pay-{i}"},
                    )
                    if r.status_code == 201:
                        paid[held[i]] = r.json()
                if client is a:
                    victim_answers += 1
                    if victim_answers == FANS // 8:
                        midway.set()
                elif r.status_code not in (201,):
                    survivor_failures.append(r.text)
            except httpx.TransportError as exc:
                if client is b:
                    survivor_failures.append(repr(exc))

        async def kill_midway() -> None:
            await midway.wait()
            victim.kill()
            killed.set()

        killer = asyncio.create_task(kill_midway())
        await gather_limited((buy(i, f) for i, f in enumerate(fans)), limit=60)
        await asyncio.wait_for(killer, timeout=30)

        assert killed.is_set()
        assert 0 < victim_answers < FANS // 2, "the kill did not land mid-load"
        assert survivor_failures == []
        assert len([i for i in held if i % 2]) == FANS // 2  # every fan on b held and paid

        # Nothing answered 2xx is lost, and nothing is half done.
        db = Database(postgres_url)
        try:
            assert await audit.audit(db) == []
            async with db.core.connect() as conn:
                confirmed = set(
                    await conn.scalars(
                        select(reservations.c.id).where(reservations.c.status == "CONFIRMED")
                    )
                )
                known = set(await conn.scalars(select(reservations.c.id)))
                payment_count = (
                    await conn.execute(select(func.count()).select_from(payments))
                ).scalar_one()
        finally:
            await db.dispose()
        assert set(held.values()) <= known
        assert set(paid) <= confirmed
        assert payment_count == len(confirmed)

        # The killed instance comes back and serves again.
        victim.start()
        victim.wait_ready()
        async with httpx.AsyncClient(base_url=victim.url, timeout=30) as again:
            r = await again.get("/api/v1/wallet", headers=bearer(fans[0].access))
            assert r.status_code == 200
            retried = [i for i in held if i % 2 == 0 and held[i] in paid]
            if retried:
                i = retried[0]
                r = await again.post(
                    "/api/v1/payments",
                    json={"reservationId": held[i]},
                    headers={**bearer(fans[i].queue), "Idempotency-Key": f"pay-{i}"},
                )
                assert r.status_code == 201
                assert r.json() == paid[held[i]]
    finally:
        await a.aclose()
        await b.aclose()
