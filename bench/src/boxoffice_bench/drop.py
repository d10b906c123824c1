"""A ticket drop: fans arrive at a fixed rate (an open model: arrivals do not wait
for answers), poll as the server tells them, are let in at the configured pace, pick
a random free seat, hold it and pay.

By default the concert is sold through a line of its own that opens a few seconds
into the run: fans arriving before the opening wait in its pre-queue, and fans still
in line when the last seat sells poll on until they are told it is sold out (or
their token lapses). On the default line there is nobody to tell them, so the drop
ends at the sell-out. Afterwards the invariants are checked from storage; a
violation, or an answer the contract does not allow, makes the run fail."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvloop

from boxoffice_bench import instances, server_timing
from boxoffice_bench.fixtures import ADMIN, make_concert, make_fans
from boxoffice_bench.invariants import check_invariants
from boxoffice_bench.opening import FanLog, OpeningReport, Told, open_line, read_opening
from boxoffice_bench.server import BenchServer
from boxoffice_bench.server_timing import ServerTiming
from boxoffice_bench.visit import DropStats, Moment, Visit

# Once every fan has arrived, how long those still in line may take to learn how
# their visit ended (a sold-out line lets their tokens lapse one waiter timeout on).
STRAGGLERS_SECONDS = 180.0


@contextlib.contextmanager
def _no_collector_pauses() -> Iterator[None]:
    """The fans are 10,000 browsers in one process: with the cyclic garbage collector
    on, its full collections over their logs and sockets stopped every fan at once
    for about 200 ms at a time (seen three times a drop), which the fans' timings
    counted as the server's. Their garbage goes by reference counting meanwhile; the
    collector runs once the drop is over."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


@dataclass
class DropResult:
    fans: int
    seats: int
    rate: float
    seconds: float
    stats: DropStats
    violations: list[str]
    opening: OpeningReport | None = None
    server: list[ServerTiming] = field(default_factory=list)  # as the server(s) timed it
    instances: int = 1  # fan i talked to instance i % instances
    per_instance: list[list[ServerTiming]] = field(default_factory=list)  # if more than one

    @property
    def sold_out_seconds(self) -> float | None:
        return self.stats.sold_out_at

    @property
    def failures(self) -> list[str]:
        """Broken invariants, and answers the contract does not allow."""
        return self.violations + ([] if self.opening is None else self.opening.problems)


async def _watch(
    session: aiohttp.ClientSession, url: str, stats: DropStats, fans: int, done: asyncio.Event
) -> None:
    while not done.is_set():
        async with session.get(url, headers=ADMIN) as r:
            room = await r.json()
        elapsed = stats.elapsed()
        learned = sum(1 for fan in stats.fans if fan.learned_at is not None)
        stats.timeline.append(
            Moment(elapsed, room["waiting"], room["admitted"], stats.bought, learned)
        )
        sys.stdout.write(
            f"\r  {elapsed:6.1f}s  arrived {stats.arrived:6}/{fans}  waiting {room['waiting']:6}"
            f"  admitted {room['admitted']:5}  sold {stats.bought:5}/{stats.seats}"
            f"  errors {stats.errors}   "
        )
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=1.0)
    sys.stdout.write("\n")


async def _arrive(
    visits: list[Visit], people: list[tuple[int, str]], rate: float
) -> tuple[Any, int]:
    """Every fan at their arrival time, then until each visit is over: the visits'
    results, and how many were still going when the drop stopped waiting. Fan i
    talks to instance i % instances throughout, as behind a sticky load balancer."""
    visit = visits[0]
    stats = visit.stats
    started = time.perf_counter()
    tasks = []
    for i, (user_id, access) in enumerate(people):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        fan = FanLog(user_id, arrived_at=stats.clock.now())
        stats.fans.append(fan)
        stats.arrived += 1
        tasks.append(asyncio.create_task(visits[i % len(visits)].run(fan, access)))
    everyone: asyncio.Future[list[Any]] = asyncio.gather(*tasks, return_exceptions=True)
    if visit.told is None:
        # Nobody tells the default line's fans that every seat is sold: at the
        # sell-out the drop is over for them, as when a sale closes.
        sold_out: asyncio.Future[Any] = asyncio.ensure_future(stats.sold_out.wait())
        await asyncio.wait([everyone, sold_out], return_when=asyncio.FIRST_COMPLETED)
        sold_out.cancel()
    else:
        await asyncio.wait([everyone], timeout=STRAGGLERS_SECONDS)
    unfinished = 0
    for task in tasks:
        if not task.done():
            task.cancel()
            unfinished += 1
    return await everyone, unfinished


Timings = tuple[list[ServerTiming], list[list[ServerTiming]]]


async def _crowd(
    servers: Sequence[BenchServer],
    stats: DropStats,
    people: list[tuple[int, str]],
    *,
    rate: float,
    room: str,
    concert_id: int,
    told: Told | None,
) -> tuple[int, Timings]:
    """The fans' run from the first arrival until every visit is over: how many were
    still going when the drop stopped waiting, and the calls as the servers timed them."""
    # Every fan a browser of their own: no pool of sockets shared between fans, whose
    # wait for one would be counted in their calls (with 256, the opening's burst of
    # polls put a poll's p95 at 127 ms, against 29-65 ms without the pool's wait).
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        with _no_collector_pauses():
            before = await instances.read_all(session, servers)
            stats.started_at = stats.clock.now()
            done = asyncio.Event()
            watcher = asyncio.create_task(_watch(session, room, stats, len(people), done))
            visits = [
                Visit(session, f"{server.url}/api/v1", stats, concert_id, told)
                for server in servers
            ]
            results, unfinished = await _arrive(visits, people, rate)
            stats.errors += sum(
                1
                for r in results
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
            )
            done.set()
            await watcher
            after = await instances.read_all(session, servers)
    return unfinished, instances.between(before, after)


async def _drop(
    servers: Sequence[BenchServer],
    *,
    fans: int,
    rate: float,
    concert_id: int,
    total_seats: int,
    opens_after: float | None,
) -> tuple[DropStats, OpeningReport | None, Timings]:
    server = servers[0]  # the operator's calls, and the one the checks read through
    people = await make_fans(server.database_url, fans, balance=100_000)
    stats = DropStats(seats=total_seats)
    told = None
    room = f"{server.url}/api/v1/admin/waiting-room"
    if opens_after is not None:
        opens_at = await open_line(server.url, concert_id, opens_at=stats.clock.now() + opens_after)
        told = Told(opens_at)
        room = f"{server.url}/api/v1/admin/concerts/{concert_id}/waiting-room"
    unfinished, timed = await _crowd(
        servers, stats, people, rate=rate, room=room, concert_id=concert_id, told=told
    )
    if told is None:
        stats.unserved = unfinished
        return stats, None, timed
    opening = await read_opening(
        server,
        concert_id=concert_id,
        fans=stats.fans,
        told=told,
        started_at=stats.started_at,
        sold_out=stats.sold_out.is_set(),
        unfinished=unfinished,
    )
    stats.unserved = opening.in_line_at_sell_out
    return stats, opening, timed


def run_drop(
    server: BenchServer,
    *,
    fans: int,
    rate: float,
    schedules: int,
    seats_per_schedule: int,
    opens_after: float | None,
    others: Sequence[BenchServer] = (),
) -> DropResult:
    """The drop on a concert's own line opening ``opens_after`` seconds into the run,
    or on the default line (None); ``others``: further instances on ``server``'s
    database and key prefix, the fans spread over all of them."""
    servers = [server, *others]
    concert_id, _ = make_concert(
        server.url, schedules=schedules, seats=seats_per_schedule, price=10_000
    )
    total = schedules * seats_per_schedule
    line = (
        "the default line"
        if opens_after is None
        else f"the concert's own line, opening {opens_after:g} s in"
    )
    spread = "" if not others else f", fan i on instance i % {len(servers)}"
    print(
        f"drop: {fans} fans arriving at {rate:.0f}/s for {total} seats "
        f"({schedules} schedule(s) of {seats_per_schedule}), on {line}{spread}"
    )
    started = time.perf_counter()
    cpu = [s.cpu_seconds() for s in servers], time.process_time()
    # The fans' loop is the server's (uvloop): the default loop's own cost per call
    # showed in the fans' timings at the opening (a poll's p95 413 ms against 70 ms).
    stats, opening, (timed, each) = uvloop.run(
        _drop(
            servers,
            fans=fans,
            rate=rate,
            concert_id=concert_id,
            total_seats=total,
            opens_after=opens_after,
        )
    )
    seconds = time.perf_counter() - started
    if others:
        used = [s.cpu_seconds() - before for s, before in zip(servers, cpu[0], strict=True)]
        print(
            f"  CPU over the drop ({seconds:.0f} s): "
            + ", ".join(f"instance {n} {c:.0f} s" for n, c in enumerate(used, start=1))
            + f", the fans' process {time.process_time() - cpu[1]:.0f} s"
        )
    violations = asyncio.run(check_invariants(server))
    return DropResult(
        fans, total, rate, seconds, stats, violations, opening, timed, len(servers), each
    )


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
    together = "as the instances together timed it" if result.per_instance else ""
    _print_timed(together or "as the server timed it", result.server)
    for n, timed in enumerate(result.per_instance, start=1):
        _print_timed(f"as instance {n} timed it", timed)
    if result.violations:
        print("  INVARIANTS VIOLATED:")
        for line in result.violations:
            print(f"    - {line}")
    else:
        print("  invariants: each seat sold at most once, payments == seats sold, every ledger")
        print("  sums to its balance, no admission out of line order, every draw as its seed")
        print("  gives — all hold")


def _print_timed(who: str, timings: list[ServerTiming]) -> None:
    for timed in timings:
        print(
            f"  {who}: {timed.method} {timed.route}  {timed.requests} requests"
            f"  p50 {server_timing.bound_text(timed.p50_at_most)}"
            f"  p99 {server_timing.bound_text(timed.p99_at_most)}"
        )
