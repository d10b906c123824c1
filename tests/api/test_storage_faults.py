"""What fans and operators are answered when storage fails under the app: a Redis
that lost its data, a Redis that does not answer, a payment whose token cannot be
spent, a host clock far off, an unexpected error. Never a 500 for storage, never a
hang, and nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from boxoffice.catalog import service as catalog_service
from boxoffice.config import Settings
from boxoffice.queue.model import DEFAULT_LINE
from boxoffice.queue.redis_store import CLOCK_NOW_KEY, RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from tests.conftest import REDIS_URL
from tests.integration.instances import free_port
from tests.support import Api, FakeClock, eventually, running_api

production = pytest.mark.parametrize("backend", ["production"])


def _lose_the_line(prefix: str) -> None:
    """What a Redis restart without persistence leaves of a line: nothing."""
    client = Redis.from_url(REDIS_URL)
    try:
        client.delete(*LineKeys.of(prefix, DEFAULT_LINE).all())
    finally:
        client.close()


@production
async def test_after_redis_loses_the_line_fans_join_again_and_the_operator_is_told(
    api: Api, redis_prefix: str
) -> None:
    waiting = await api.register("waiting")
    admitted = await api.admitted_fan(name="admitted")
    await api.client.patch("/api/v1/admin/waiting-room", json={"capacity": 1}, headers=api.admin)
    assert (await api.join(waiting)).json()["position"] == 1
    _lose_the_line(redis_prefix)

    r = await api.status(waiting)
    assert (r.status_code, r.json()["code"]) == (401, "token_expired")
    show = await api.make_show()
    r = await api.hold(admitted, show, seat_number=1)
    assert (r.status_code, r.json()["code"]) == (401, "token_expired")  # not admitted anew
    view = (await api.client.get("/api/v1/admin/waiting-room", headers=api.admin)).json()
    assert (view["capacity"], view["lineResets"]) == (1, 1)  # the operator's setting kept
    assert view["lineResetAt"] is not None
    assert view["waiting"] == view["admitted"] == 0
    again = await api.join(waiting)
    assert (again.status_code, again.json()["status"]) == (201, "ADMITTED")


@production
async def test_a_paused_line_is_still_paused_after_redis_loses_it(
    api: Api, redis_prefix: str
) -> None:
    r = await api.client.patch(
        "/api/v1/admin/waiting-room", json={"paused": True}, headers=api.admin
    )
    assert r.json()["paused"] is True
    _lose_the_line(redis_prefix)
    fan = await api.register()
    r = await api.join(fan)
    assert (r.status_code, r.json()["status"]) == (201, "WAITING")
    view = (await api.client.get("/api/v1/admin/waiting-room", headers=api.admin)).json()
    assert (view["paused"], view["admitted"], view["lineResets"]) == (True, 0, 1)


@production
async def test_an_unreachable_redis_is_503_busy_and_not_ready(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    # The edge limits count in Redis too (the next test): off here, so a fan signs up.
    settings = make_settings(redis_url=nowhere, redis_timeout_ms=300, rate_limits=False)
    async with running_api(settings, clock) as api:
        fan = await api.register()
        started = asyncio.get_running_loop().time()
        r = await api.join(fan)
        assert asyncio.get_running_loop().time() - started < 5
        assert (r.status_code, r.json()["code"]) == (503, "busy")
        assert r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "waitingRoom": "unreachable"}
        assert (await api.client.get("/healthz")).status_code == 200
        metrics = (await api.client.get("/metrics")).text
        assert 'boxoffice_dependency_up{dependency="waitingRoom"} 0.0' in metrics
        assert (await api.client.get("/api/v1/concerts")).status_code == 200  # no Redis needed


async def test_a_limited_request_is_503_busy_while_redis_cannot_count_it(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with running_api(make_settings(redis_url=nowhere, redis_timeout_ms=300), clock) as api:
        r = await api.client.post("/api/v1/users", json={"name": "fan"})
        assert (r.status_code, r.json()["code"]) == (503, "busy")
        assert r.headers["retry-after"] == "1"


@production
async def test_a_payment_that_committed_is_201_even_if_redis_fails_to_end_the_visit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=1_000)
    rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    original = RedisQueueStore.leave

    async def unreachable(self: RedisQueueStore, **_: object) -> bool:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(RedisQueueStore, "leave", unreachable)
    r = await api.pay(fan, rid)
    assert r.status_code == 201, r.text
    assert await api.balance(fan) == 0
    monkeypatch.setattr(RedisQueueStore, "leave", original)

    async def spent() -> bool:  # retried in the background
        return (await api.status(fan)).status_code == 401

    await eventually(spent)


async def test_an_unexpected_error_is_a_500_problem_that_keeps_the_connection(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(catalog_service, "list_concerts", broken)
    host, port = api.client.base_url.host, api.client.base_url.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in ("/api/v1/concerts", "/healthz"):
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            if path == "/healthz":
                assert head.startswith(b"HTTP/1.1 200")
            else:
                assert head.startswith(b"HTTP/1.1 500")
                assert b"connection: close" not in head.lower()
                assert b'"code":"internal_error"' in body
    finally:
        writer.close()


@production
async def test_a_sibling_with_a_skewed_clock_cannot_drop_or_keep_anyone(
    make_settings: Callable[..., Settings], redis_prefix: str
) -> None:
    """Instances on the real clock (no test hook): one 90 s ahead ticks with no traffic,
    one 90 s behind is the only one a fan polls through."""
    base = make_settings(admission_capacity=0, waiter_timeout_seconds=3, queue_status_mirror=True)
    client = Redis.from_url(REDIS_URL)
    client.delete(redis_prefix + CLOCK_NOW_KEY)  # this test's lines run on Redis TIME
    client.close()
    right = FakeClock()
    ahead = FakeClock(right.now + timedelta(seconds=90))
    behind = FakeClock(right.now - timedelta(seconds=90))
    async with (
        running_api(base, right) as honest,
        running_api(base, ahead) as _fast,
        running_api(base, behind) as slow,
    ):
        polled, silent = await honest.register("polls"), await honest.register("silent")
        await honest.join(polled)
        await honest.join(silent)
        for _ in range(5):  # 5 s: the fast sibling ticks, the fan polls through the slow one
            r = await slow.status(polled)
            assert (r.status_code, r.json()["status"]) == (200, "WAITING")
            await asyncio.sleep(1)
        assert (await honest.status(polled)).json()["position"] == 1  # alive, at the front
        assert (await honest.status(silent)).status_code == 401  # silent 5 s > 3 s: dropped
