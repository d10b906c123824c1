"""Test support: a controllable clock, a real server on a loopback port, and small
factories that speak the public API the way a fan or an operator would."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import uvicorn
from fastapi import FastAPI
from redis import Redis

from boxoffice.queue.redis_store import CLOCK_NOW_KEY
from boxoffice.queue.scripts import LineKeys

ADMIN_TOKEN = "admin-test-token-0123456789"
SECRET_KEY = "test-secret-key-that-is-long-enough"


class FakeClock:
    """The app's clock, moved by hand; ``follow`` keeps another clock (a Redis line's)
    at the same instant."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)
        self._followers: list[Callable[[float], None]] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for follower in self._followers:
            follower(self.now.timestamp())

    def follow(self, follower: Callable[[float], None]) -> None:
        self._followers.append(follower)
        follower(self.now.timestamp())


class RedisLineClock:
    """Sets the clock of every line under a Redis prefix, the Redis store's test hook
    (``clock_now``): its lines then run on the test's time instead of Redis ``TIME``."""

    _clients: ClassVar[dict[str, Redis]] = {}

    def __init__(self, url: str, prefix: str, *, line: str | None = None) -> None:
        self._redis = self._clients.setdefault(url, Redis.from_url(url))
        self._prefix = prefix
        self._line = line

    def __call__(self, now: float) -> None:
        """Set the time of every line (or of the one line this clock is for), and the
        time a line seeded from now on starts at."""
        self._redis.set(self._prefix + CLOCK_NOW_KEY, repr(now))
        if self._line is not None:
            keys = [LineKeys.of(self._prefix, self._line).line]
        else:
            keys = list(self._redis.scan_iter(match=f"{self._prefix}{{*}}:line", count=1000))
        for key in keys:
            if self._redis.exists(key):  # a line not seeded yet starts from the key above
                self._redis.hset(key, CLOCK_NOW_KEY, repr(now))


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app under uvicorn on a free loopback port; yield an HTTP client for it.

    The socket names IPPROTO_TCP so asyncio turns on TCP_NODELAY for accepted
    connections; without it every response waits out a delayed ACK (~40 ms)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Keep idle connections open longer than any pause in a test, so the client never
    # reuses one the server has just closed.
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=120)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Fan:
    user_id: int
    access_token: str
    queue_token: str | None = None
    refresh_token: str | None = None

    @property
    def access(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    @property
    def queue(self) -> dict[str, str]:
        assert self.queue_token is not None, "this fan has not joined the line"
        return {"Authorization": f"Bearer {self.queue_token}"}


@dataclass
class Show:
    concert_id: int
    schedule_id: int
    seat_ids: list[int]
    price: int


class Api:
    """The public API, as the tests drive it."""

    def __init__(self, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def register(self, name: str = "fan") -> Fan:
        r = await self.client.post("/api/v1/users", json={"name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        return Fan(
            user_id=body["userId"],
            access_token=body["accessToken"],
            refresh_token=body["refreshToken"],
        )

    async def renew(self, fan: Fan) -> Fan:
        """The fan's page renewing its access token, as it does when one lapses (after
        the test's clock moved past ``ACCESS_TOKEN_TTL_SECONDS``)."""
        r = await self.client.post(
            "/api/v1/sessions/refresh", json={"refreshToken": fan.refresh_token}
        )
        assert r.status_code == 200, r.text
        fan.access_token, fan.refresh_token = r.json()["accessToken"], r.json()["refreshToken"]
        return fan

    async def charge(self, fan: Fan, amount: int, key: str | None = None) -> httpx.Response:
        headers = dict(fan.access)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/v1/wallet/charges", json={"amount": amount}, headers=headers
        )

    async def balance(self, fan: Fan) -> int:
        r = await self.client.get("/api/v1/wallet", headers=fan.access)
        assert r.status_code == 200, r.text
        return int(r.json()["balance"])

    async def join(self, fan: Fan) -> httpx.Response:
        r = await self.client.post("/api/v1/queue/tokens", headers=fan.access)
        if r.status_code in (200, 201):
            fan.queue_token = r.json()["token"]
        return r

    async def status(self, fan: Fan) -> httpx.Response:
        return await self.client.get("/api/v1/queue/status", headers=fan.queue)

    async def admitted_fan(self, *, balance: int = 0, name: str = "fan") -> Fan:
        fan = await self.register(name)
        if balance:
            r = await self.charge(fan, balance)
            assert r.status_code == 200, r.text
        r = await self.join(fan)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "ADMITTED", r.json()
        return fan

    async def make_show(
        self, *, seats: int = 50, price: int = 10_000, in_days: float = 30, title: str = "Show"
    ) -> Show:
        r = await self.client.post(
            "/api/v1/admin/concerts", json={"title": title, "venue": "Hall"}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        concert_id = r.json()["concertId"]
        concert_at = self.clock.now + timedelta(days=in_days)
        r = await self.client.post(
            f"/api/v1/admin/concerts/{concert_id}/schedules",
            json={"concertAt": concert_at.isoformat(), "seatCount": seats, "price": price},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        schedule_id = r.json()["scheduleId"]
        seat_map = await self.admin_seat_ids(concert_id, schedule_id)
        return Show(concert_id=concert_id, schedule_id=schedule_id, seat_ids=seat_map, price=price)

    async def admin_seat_ids(self, concert_id: int, schedule_id: int) -> list[int]:
        viewer = await self.admitted_fan(name="seat-viewer")
        r = await self.client.get(
            f"/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats", headers=viewer.queue
        )
        assert r.status_code == 200, r.text
        await self.client.delete("/api/v1/queue/tokens/current", headers=viewer.queue)
        return [seat["seatId"] for seat in r.json()["seats"]]

    async def seats(self, fan: Fan, show: Show, **params: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/concerts/{show.concert_id}/schedules/{show.schedule_id}/seats",
            headers=fan.queue,
            params=params,
        )

    async def hold(
        self, fan: Fan, show: Show, *, seat_id: int | None = None, seat_number: int | None = None
    ) -> httpx.Response:
        body: dict[str, int] = {"scheduleId": show.schedule_id}
        if seat_id is not None:
            body["seatId"] = seat_id
        if seat_number is not None:
            body["seatNumber"] = seat_number
        return await self.client.post("/api/v1/reservations", json=body, headers=fan.queue)

    async def pay(self, fan: Fan, reservation_id: int, key: str | None = None) -> httpx.Response:
        headers = dict(fan.queue)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/v1/payments", json={"reservationId": reservation_id}, headers=headers
        )

    async def order(
        self,
        fan: Fan,
        show: Show,
        *,
        seat_numbers: list[int] | None = None,
        seat_ids: list[int] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"scheduleId": show.schedule_id}
        if seat_ids is not None:
            body["seatIds"] = seat_ids
        if seat_numbers is not None:
            body["seatNumbers"] = seat_numbers
        return await self.client.post("/api/v1/orders", json=body, headers=fan.queue)

    async def pay_order(self, fan: Fan, order_id: int, key: str | None = None) -> httpx.Response:
        headers = dict(fan.queue)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/v1/payments", json={"orderId": order_id}, headers=headers
        )

    async def bought(
        self, *, price: int = 10_000, seat: int = 1, show: Show | None = None, name: str = "buyer"
    ) -> tuple[Fan, Show, int]:
        """A fan who paid for one seat (their token spent): the fan, the show, the
        reservation."""
        show = show or await self.make_show(price=price)
        fan = await self.admitted_fan(balance=show.price, name=name)
        rid = (await self.hold(fan, show, seat_number=seat)).json()["reservationId"]
        r = await self.pay(fan, rid)
        assert r.status_code == 201, r.text
        return fan, show, rid

    async def refund(self, fan: Fan, reservation_id: int, key: str | None = None) -> httpx.Response:
        headers = dict(fan.access)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            f"/api/v1/reservations/{reservation_id}/refund", headers=headers
        )


@asynccontextmanager
async def running_api(settings: Any, clock: FakeClock) -> AsyncIterator[Api]:
    from boxoffice.app import create_app

    async with serve(create_app(settings, clock=clock)) as client:
        yield Api(client, clock)


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    """Until ``check`` (plain or async) holds; fails the test if it does not within
    ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        assert asyncio.get_running_loop().time() < deadline, "never came true"
        await asyncio.sleep(0.01)
