"""A ticket drop: fans arrive at a fixed rate (an open model: arrivals do not wait
for answers), poll as the server tells them, are let in at the configured pace, pick
a random free seat, hold it and pay. Afterwards the invariants are checked from
storage; a violation makes the run fail."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from boxoffice_bench.fixtures import ADMIN, make_concert, make_fans
from boxoffice_bench.invariants import check_invariants
from boxoffice_bench.server import BenchServer

HOLD_ATTEMPTS = 5


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
    sold_out_at: float | None = None
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)


@dataclass
class DropResult:
    fans: int
    seats: int
    rate: float
    seconds: float
    stats: DropStats
    violations: list[str]

    @property
    def sold_out_seconds(self) -> float | None:
        return self.stats.sold_out_at


@dataclass
class _Visit:
    """One fan's way through the sale, every call timed and its status counted."""

    session: aiohttp.ClientSession
    api: str
    stats: DropStats
    concert_id: int

    async def call(self, name: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        started = time.perf_counter()
        async with self.session.request(method, self.api + path, **kwargs) as response:
            body = await response.json() if response.content_type.endswith("json") else None
            status = response.status
        self.stats.latencies[name].append(time.perf_counter() - started)
        counts = self.stats.statuses[name]
        counts[status] = counts.get(status, 0) + 1
        return status, body

    async def run(self, access: str) -> None:
        queue = await self.wait_in_line(access)
        if queue is None:
            self.stats.errors += 1
        elif not await self.buy(queue):
            self.stats.gave_up += 1
            await self.call("leave", "DELETE", "/queue/tokens/current", headers=queue)

    async def wait_in_line(self, access: str) -> dict[str, str] | None:
        """Join and poll as told until admitted: the queue token's header, or None."""
        auth = {"Authorization": f"Bearer {access}"}
        status, body = await self.call("join", "POST", "/queue/tokens", headers=auth)
        if status not in (200, 201):
            return None
        queue = {"Authorization": f"Bearer {body['token']}"}
        while body["status"] != "ADMITTED":
            await asyncio.sleep(body["pollAfterSeconds"])
            status, body = await self.call("status", "GET", "/queue/status", headers=queue)
            if status != 200:
                return None
        return queue

    async def buy(self, queue: dict[str, str]) -> bool:
        """Hold a random free seat (another after a 409) and pay; False if none was left."""
        shows = f"/concerts/{self.concert_id}/schedules"
        for _ in range(HOLD_ATTEMPTS):
            _, listing = await self.call("schedules", "GET", shows, headers=queue)
            open_schedules = [s for s in listing["schedules"] if s["availableSeats"] > 0]
            if not open_schedules:
                return False
            schedule_id = random.choice(open_schedules)["scheduleId"]
            _, seat_map = await self.call(
                "seat map",
                "GET",
                f"{shows}/{schedule_id}/seats",
                params={"status": "AVAILABLE"},
                headers=queue,
            )
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
                await self.pay(queue, held["reservationId"])
            else:
                self.stats.errors += 1
            return True
        return False

    async def pay(self, queue: dict[str, str], reservation_id: int) -> None:
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
        self.stats.bought += 1
        if self.stats.bought >= self.stats.seats:
            self.stats.sold_out.set()


async def _watch(
    session: aiohttp.ClientSession,
    base: str,
    stats: DropStats,
    fans: int,
    started: float,
    done: asyncio.Event,
) -> None:
    while not done.is_set():
        async with session.get(f"{base}/api/v1/admin/waiting-room", headers=ADMIN) as r:
            room = await r.json()
        elapsed = time.perf_counter() - started
        stats.timeline.append((elapsed, room["waiting"], room["admitted"], stats.bought))
        if stats.sold_out_at is None and stats.bought >= stats.seats:
            stats.sold_out_at = elapsed
        sys.stdout.write(
            f"\r  {elapsed:6.1f}s  arrived {stats.arrived:6}/{fans}  waiting {room['waiting']:6}"
            f"  admitted {room['admitted']:5}  sold {stats.bought:5}/{stats.seats}"
            f"  errors {stats.errors}   "
        )
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=1.0)
    sys.stdout.write("\n")


async def _arrive(visit: _Visit, people: list[tuple[int, str]], rate: float) -> list[Any]:
    """Every fan at their arrival time; then, once every seat is sold, fans still in
    line have nothing left to buy: the drop is over for them, as when a sale closes."""
    started = time.perf_counter()
    tasks = []
    for i, (_, access) in enumerate(people):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        visit.stats.arrived += 1
        tasks.append(asyncio.create_task(visit.run(access)))
    everyone: asyncio.Future[list[Any]] = asyncio.gather(*tasks, return_exceptions=True)
    sold_out: asyncio.Future[Any] = asyncio.ensure_future(visit.stats.sold_out.wait())
    await asyncio.wait([everyone, sold_out], return_when=asyncio.FIRST_COMPLETED)
    sold_out.cancel()
    for task in tasks:
        if not task.done():
            task.cancel()
            visit.stats.unserved += 1
    return await everyone


async def _drop(
    server: BenchServer, *, fans: int, rate: float, concert_id: int, total_seats: int
) -> DropStats:
    people = await make_fans(server.database_url, fans, balance=100_000)
    stats = DropStats(seats=total_seats)
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        done = asyncio.Event()
        watcher = asyncio.create_task(_watch(session, server.url, stats, fans, started, done))
        visit = _Visit(session, f"{server.url}/api/v1", stats, concert_id)
        results = await _arrive(visit, people, rate)
        stats.errors += sum(
            1
            for r in results
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        )
        done.set()
        await watcher
        if stats.sold_out_at is None and stats.bought >= total_seats:
            stats.sold_out_at = time.perf_counter() - started
    return stats


def run_drop(
    server: BenchServer, *, fans: int, rate: float, schedules: int, seats_per_schedule: int
) -> DropResult:
    concert_id, _ = make_concert(
        server.url, schedules=schedules, seats=seats_per_schedule, price=10_000
    )
    total = schedules * seats_per_schedule
    print(
        f"drop: {fans} fans arriving at {rate:.0f}/s for {total} seats "
        f"({schedules} schedule(s) of {seats_per_schedule})"
    )
    started = time.perf_counter()
    stats = asyncio.run(
        _drop(server, fans=fans, rate=rate, concert_id=concert_id, total_seats=total)
    )
    seconds = time.perf_counter() - started
    violations = asyncio.run(check_invariants(server))
    return DropResult(fans, total, rate, seconds, stats, violations)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def print_drop(result: DropResult) -> None:
    s = result.stats
    sold_out = f"{result.sold_out_seconds:.1f} s" if result.sold_out_seconds else "not sold out"
    print(
        f"  done in {result.seconds:.1f} s; sold {s.bought}/{result.seats} ({sold_out}); "
        f"found nothing left {s.gave_up}; still in line at sell-out {s.unserved}; "
        f"errors {s.errors}"
    )
    for name, values in s.latencies.items():
        rate = len(values) / result.seconds
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
        print(
            f"  {name:9} {len(values):7} calls {rate:8.1f}/s  p50 {p50:7.1f} ms"
            f"  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
            f"  statuses {dict(sorted(s.statuses[name].items()))}"
        )
    if result.violations:
        print("  INVARIANTS VIOLATED:")
        for line in result.violations:
            print(f"    - {line}")
    else:
        print("  invariants: each seat sold at most once, payments == seats sold, every ledger")
        print("  sums to its balance, no admission out of arrival order — all hold")
