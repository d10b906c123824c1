"""One fan's visit in a ticket drop: join, poll as told, hold a seat and pay, each
answer timed and counted, and what the fan saw written down in their log."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp
import orjson

from boxoffice_bench.opening import (
    ADMITTED,
    FOUND_NOTHING,
    JOIN_REFUSED,
    SEATS_TAKEN,
    SOLD_OUT,
    TOKEN_LAPSED,
    TOLD_SOLD_OUT,
    FanLog,
    RunClock,
    Told,
)

HOLD_ATTEMPTS = 5
BUSY_TRIES = 5


class Moment(NamedTuple):
    """The drop once a second: the line's counts as the operator sees them, seats
    sold, and fans who have learned there was nothing left for them."""

    seconds: float
    waiting: int
    admitted: int
    sold: int
    learned: int


@dataclass
class DropStats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    arrived: int = 0
    bought: int = 0
    gave_up: int = 0
    unserved: int = 0
    seats: int = 0
    sold_out: asyncio.Event = field(default_factory=asyncio.Event)
    errors: int = 0
    sold_out_at: float | None = None  # seconds into the run, when the last seat was paid
    timeline: list[Moment] = field(default_factory=list)
    clock: RunClock = field(default_factory=RunClock)
    started_at: float = 0.0
    fans: list[FanLog] = field(default_factory=list)

    def elapsed(self) -> float:
        return self.clock.now() - self.started_at


@dataclass
class Visit:
    """One fan's way through the sale, every call timed and its status counted;
    ``told`` holds a concert line's answers to the contract (None: the default line)."""

    session: aiohttp.ClientSession
    api: str
    stats: DropStats
    concert_id: int
    told: Told | None

    async def call(self, name: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """One request, tried again after ``Retry-After`` while the server answers 503
        ``busy``, as the fan's page does: a payment given up on a busy answer would
        keep its seat held and unsold until the hold lapsed. Each try is counted."""
        for _ in range(BUSY_TRIES):
            started = time.perf_counter()
            async with self.session.request(method, self.api + path, **kwargs) as response:
                body = (
                    await response.json(loads=orjson.loads)
                    if response.content_type.endswith("json")
                    else None
                )
                status = response.status
                retry_after = response.headers.get("Retry-After", "1")
            self.stats.latencies[name].append(time.perf_counter() - started)
            counts = self.stats.statuses[name]
            counts[status] = counts.get(status, 0) + 1
            if status != 503:
                break
            await asyncio.sleep(float(retry_after) if retry_after.isdigit() else 1.0)
        return status, body

    async def run(self, fan: FanLog, access: str) -> None:
        queue = await self.wait_in_line(fan, access)
        if queue is not None and not await self.buy(fan, queue):
            self.stats.gave_up += 1
            await self.call("leave", "DELETE", "/queue/tokens/current", headers=queue)

    async def wait_in_line(self, fan: FanLog, access: str) -> dict[str, str] | None:
        """Join and poll as told until admitted: the queue token's header. None when
        the fan learned the sale was over, or an answer went wrong (counted)."""
        clock = self.stats.clock
        auth = {"Authorization": f"Bearer {access}"}
        join = {} if self.told is None else {"json": {"concertId": self.concert_id}}
        sent = clock.now()
        status, body = await self.call("join", "POST", "/queue/tokens", headers=auth, **join)
        fan.joined_at = received = clock.now()
        if status == 409 and body and body.get("code") == "sold_out":
            fan.joined_as = SOLD_OUT
            fan.learned(JOIN_REFUSED, received)
            return None
        if status not in (200, 201):
            self.stats.errors += 1
            return None
        fan.joined_as = body["status"]
        queue = {"Authorization": f"Bearer {body['token']}"}
        while True:
            if self.told is not None:
                self.told.heard(body, sent=sent, received=received)
            if body["status"] == ADMITTED:
                fan.admitted_at = received
                return queue
            if body["status"] == SOLD_OUT:
                fan.learned(TOLD_SOLD_OUT, received)
                return None
            await asyncio.sleep(body["pollAfterSeconds"])
            sent = clock.now()
            status, body = await self.call("status", "GET", "/queue/status", headers=queue)
            received = clock.now()
            if status == 401 and self.told is not None and self.stats.sold_out.is_set():
                fan.learned(TOKEN_LAPSED, received)
                return None
            if status != 200:
                self.stats.errors += 1
                return None

    async def buy(self, fan: FanLog, queue: dict[str, str]) -> bool:
        """Hold a random free seat (another after a 409) and pay; False if none was left."""
        shows = f"/concerts/{self.concert_id}/schedules"
        for _ in range(HOLD_ATTEMPTS):
            status, listing = await self.call("schedules", "GET", shows, headers=queue)
            if status != 200:
                return self._turned_away(fan, status, listing)
            open_schedules = [s for s in listing["schedules"] if s["availableSeats"] > 0]
            if not open_schedules:
                fan.learned(FOUND_NOTHING, self.stats.clock.now())
                return False
            schedule_id = random.choice(open_schedules)["scheduleId"]
            status, seat_map = await self.call(
                "seat map",
                "GET",
                f"{shows}/{schedule_id}/seats",
                params={"status": "AVAILABLE"},
                headers=queue,
            )
            if status != 200:
                return self._turned_away(fan, status, seat_map)
            if not seat_map["seats"]:
                continue
            seat = random.choice(seat_map["seats"])
            body = {"scheduleId": schedule_id, "seatId": seat["seatId"]}
            status, held = await self.call(
                "hold", "POST", "/reservations", json=body, headers=queue
            )
            if status == 409:
                continue
            if status == 201:
                await self.pay(fan, queue, held["reservationId"])
            else:
                return self._turned_away(fan, status, held)
            return True
        fan.learned(SEATS_TAKEN, self.stats.clock.now())
        return False

    def _turned_away(self, fan: FanLog, status: int, answer: Any) -> bool:
        """An admitted fan refused by the gate once a concert's line closed has found
        nothing left (False); any other refusal is an error (True: nothing to leave).
        The line closes within the payment that sells its last seat, so a fan can be
        refused for it before this drop has read that payment's answer: the refusal
        itself says the line is sold out."""
        closed = self.stats.sold_out.is_set() or (
            isinstance(answer, dict) and "SOLD_OUT" in str(answer.get("detail", ""))
        )
        if status == 403 and self.told is not None and closed:
            fan.learned(FOUND_NOTHING, self.stats.clock.now())
            return False
        self.stats.errors += 1
        return True

    async def pay(self, fan: FanLog, queue: dict[str, str], reservation_id: int) -> None:
        status, _ = await self.call(
            "pay",
            "POST",
            "/payments",
            json={"reservationId": reservation_id},
            headers={**queue, "Idempotency-Key": f"pay-{reservation_id}"},
        )
        if status != 201:
            self.stats.errors += 1
            return
        fan.bought_at = self.stats.clock.now()
        self.stats.bought += 1
        if self.stats.bought >= self.stats.seats and not self.stats.sold_out.is_set():
            self.stats.sold_out_at = self.stats.elapsed()
            self.stats.sold_out.set()
