"""A ticket drop: fans arrive at a fixed rate (an open model: arrivals do not wait
for answers), poll as the server tells them, are let in at the configured pace, pick
a random free seat, hold it and pay. Afterwards the invariants are checked from
storage; a violation makes the run fail."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import func, select

from boxoffice import audit
from boxoffice.bench.fixtures import ADMIN, make_concert, make_fans
from boxoffice.bench.server import BenchServer
from boxoffice.db import Database, payments, seats

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


async def _call(
    session: aiohttp.ClientSession,
    stats: DropStats,
    name: str,
    method: str,
    url: str,
    **kwargs: Any,
) -> tuple[int, Any]:
    started = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:
        body = await response.json() if response.content_type.endswith("json") else None
        status = response.status
    stats.latencies[name].append(time.perf_counter() - started)
    counts = stats.statuses[name]
    counts[status] = counts.get(status, 0) + 1
    return status, body


async def _fan(
    session: aiohttp.ClientSession,
    api: str,
    stats: DropStats,
    access: str,
    concert_id: int,
    started: float,
) -> None:
    auth = {"Authorization": f"Bearer {access}"}
    status, body = await _call(session, stats, "join", "POST", f"{api}/queue/tokens", headers=auth)
    if status not in (200, 201):
        stats.errors += 1
        return
    queue = {"Authorization": f"Bearer {body['token']}"}
    while body["status"] != "ADMITTED":
        await asyncio.sleep(body["pollAfterSeconds"])
        status, body = await _call(
            session, stats, "status", "GET", f"{api}/queue/status", headers=queue
        )
        if status != 200:
            stats.errors += 1
            return
    for _ in range(HOLD_ATTEMPTS):
        status, listing = await _call(
            session,
            stats,
            "schedules",
            "GET",
            f"{api}/concerts/{concert_id}/schedules",
            headers=queue,
        )
        open_schedules = [s for s in listing["schedules"] if s["availableSeats"] > 0]
        if not open_schedules:
            break
        schedule = random.choice(open_schedules)
        status, seat_map = await _call(
            session,
            stats,
            "seat map",
            "GET",
            f"{api}/concerts/{concert_id}/schedules/{schedule['scheduleId']}/seats",
            params={"status": "AVAILABLE"},
            headers=queue,
        )
        if not seat_map["seats"]:
            continue
        seat = random.choice(seat_map["seats"])
        status, held = await _call(
            session,
            stats,
            "hold",
            "POST",
            f"{api}/reservations",
            json={"scheduleId": schedule["scheduleId"], "seatId": seat["seatId"]},
            headers=queue,
        )
        if status == 409:
            continue
        if status != 201:
            stats.errors += 1
            return
        status, _ = await _call(
            session,
            stats,
            "pay",
            "POST",
            f"{api}/payments",
            json={"reservationId": held["reservationId"]},
            headers={**queue, "Idempotency-Key": f"pay-{held['reservationId']}"},
        )
        if status == 201:
            stats.bought += 1
            if stats.bought >= stats.seats:
                stats.sold_out.set()
        else:
            stats.errors += 1
        return
    stats.gave_up += 1
    await _call(session, stats, "leave", "DELETE", f"{api}/queue/tokens/current", headers=queue)


async def _watch(
    session: aiohttp.ClientSession,
    base: str,
    stats: DropStats,
    total_seats: int,
    fans: int,
    started: float,
    done: asyncio.Event,
) -> None:
    while not done.is_set():
        async with session.get(f"{base}/api/v1/admin/waiting-room", headers=ADMIN) as r:
            room = await r.json()
        elapsed = time.perf_counter() - started
        stats.timeline.append((elapsed, room["waiting"], room["admitted"], stats.bought))
        if stats.sold_out_at is None and stats.bought >= total_seats:
            stats.sold_out_at = elapsed
        sys.stdout.write(
            f"\r  {elapsed:6.1f}s  arrived {stats.arrived:6}/{fans}  waiting {room['waiting']:6}"
            f"  admitted {room['admitted']:5}  sold {stats.bought:5}/{total_seats}"
            f"  errors {stats.errors}   "
        )
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=1.0)
    sys.stdout.write("\n")


async def _drop(
    server: BenchServer, *, fans: int, rate: float, concert_id: int, total_seats: int
) -> DropStats:
    people = await make_fans(server.database_url, fans, balance=100_000)
    api = f"{server.url}/api/v1"
    stats = DropStats(seats=total_seats)
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        done = asyncio.Event()
        watcher = asyncio.create_task(
            _watch(session, server.url, stats, total_seats, fans, started, done)
        )
        tasks = []
        for i, (_, access) in enumerate(people):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stats.arrived += 1
            tasks.append(
                asyncio.create_task(_fan(session, api, stats, access, concert_id, started))
            )
        # Every fan has arrived. Once every seat is sold, fans still in line have
        # nothing left to buy: the drop is over for them, as when a real sale closes.
        everyone: asyncio.Future[list[Any]] = asyncio.gather(*tasks, return_exceptions=True)
        sold_out: asyncio.Future[Any] = asyncio.ensure_future(stats.sold_out.wait())
        await asyncio.wait([everyone, sold_out], return_when=asyncio.FIRST_COMPLETED)
        sold_out.cancel()
        for task in tasks:
            if not task.done():
                task.cancel()
                stats.unserved += 1
        results = await everyone
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


async def check_invariants(server: BenchServer) -> list[str]:
    """The rules of DESIGN's I1 to I3, read back from PostgreSQL and Redis."""
    db = Database(server.database_url)
    try:
        problems = await audit.audit(db)
        async with db.read() as conn:
            sold = (
                await conn.execute(
                    select(func.count())
                    .select_from(seats)
                    .where(seats.c.sold_reservation_id.is_not(None))
                )
            ).scalar_one()
            paid = (await conn.execute(select(func.count()).select_from(payments))).scalar_one()
        if sold != paid:
            problems.append(f"{sold} seats sold but {paid} payments")
    finally:
        await db.dispose()
    redis = Redis.from_url(server.redis_url)
    try:
        events: Any = await redis.xrange(server.prefix + "events")
        admitted = [int(f[b"s"]) for _, f in events if f[b"e"] == b"a"]
        inversions = sum(1 for a, b in itertools.pairwise(admitted) if b < a)
        if inversions:
            problems.append(f"{inversions} admissions out of arrival order")
    finally:
        await redis.aclose()
    return problems


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
