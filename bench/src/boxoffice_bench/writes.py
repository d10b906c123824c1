"""The database's path, measured with wrk: balance reads, charges, holds, orders of
two seats and payments on one server process in the production shape (PostgreSQL and Redis).

Every request does distinct real work, prepared before its measurement (see
prepare.py): a different fan's balance, a charge to a fan not charged yet, a seat
nobody holds, a live hold not yet paid. Each endpoint is measured at each connection
count in every round, the rounds interleaved so that the machine's drift falls on
all of them alike; the median round is reported with every round beside it. 2xx
answers are counted apart from the rest: a measurement whose answers are not
(nearly) all 2xx measured something else, and fails the run. So does a broken
invariant, read back from storage afterwards."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from boxoffice_bench.fixtures import write_requests
from boxoffice_bench.invariants import EventLog, check_invariants
from boxoffice_bench.prepare import Preparer
from boxoffice_bench.server import BenchServer
from boxoffice_bench.wrk import WrkResult, run_wrk

# Below this share of 2xx answers a run measured refusals, not the endpoint.
MIN_OK_SHARE = 0.99


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    # Requests per second prepared for before a round has shown the real rate: a
    # good deal more than the most this machine has served in a fast phase (running
    # out would measure refusals and replays).
    bound: int


ENDPOINTS = (
    Endpoint("balance", "GET", "/api/v1/wallet", 30_000),
    Endpoint("charge", "POST", "/api/v1/wallet/charges", 12_000),
    Endpoint("reserve", "POST", "/api/v1/reservations", 12_000),
    Endpoint("order", "POST", "/api/v1/orders", 6_000),
    Endpoint("pay", "POST", "/api/v1/payments", 6_000),
)


@dataclass(frozen=True)
class WritesRow:
    """One endpoint at one connection count, every round."""

    endpoint: str
    connections: int
    runs: list[WrkResult]

    @property
    def median(self) -> WrkResult:
        ordered = sorted(self.runs, key=lambda r: r.requests_per_second)
        return ordered[(len(ordered) - 1) // 2]  # the lower one if even

    @property
    def problems(self) -> list[str]:
        found = []
        for n, run in enumerate(self.runs, 1):
            where = f"{self.endpoint} at {self.connections} connections, round {n}"
            if run.requests and run.ok < MIN_OK_SHARE * run.requests:
                found.append(f"{where}: {run.ok} of {run.requests} answers 2xx ({run.others})")
            if run.ran_out:
                found.append(f"{where}: {run.requests} requests but {run.prepared} prepared")
        return found


@dataclass(frozen=True)
class WritesResult:
    rows: list[WritesRow]
    seconds: int
    rounds: int
    violations: list[str]

    @property
    def problems(self) -> list[str]:
        return [p for row in self.rows for p in row.problems] + self.violations


def _size(endpoint: Endpoint, earlier: list[WrkResult], seconds: int) -> int:
    """Requests to prepare: the bound at first, then twice the best rate seen so far
    (but never less than a quarter of the bound), plus a margin."""
    rate = float(endpoint.bound)
    if earlier:
        rate = max(endpoint.bound / 4, 2 * max(r.requests_per_second for r in earlier))
    return math.ceil(rate * seconds) + 100


async def _measure(
    server: BenchServer,
    prep: Preparer,
    endpoint: Endpoint,
    *,
    connections: int,
    seconds: int,
    earlier: list[WrkResult],
    workdir: Path,
) -> WrkResult:
    requests = await prep.requests(endpoint.name, _size(endpoint, earlier, seconds))
    path = workdir / f"{endpoint.name}-{connections}-{len(earlier)}.txt"
    write_requests(path, requests)
    await asyncio.to_thread(server.settle)
    return await asyncio.to_thread(
        run_wrk,
        endpoint.name,
        server.url + endpoint.path,
        seconds=seconds,
        connections=connections,
        workdir=workdir,
        requests=path,
        method=endpoint.method,
        cpu=server.cpu_seconds,
    )


async def _rounds(
    server: BenchServer,
    log: EventLog,
    *,
    seconds: int,
    rounds: int,
    connections: list[int],
    workdir: Path,
) -> list[WritesRow]:
    """Every measurement, the lines' events read after each (a round's fans add more
    than a line's stream keeps)."""
    runs: dict[tuple[str, int], list[WrkResult]] = {
        (e.name, c): [] for e in ENDPOINTS for c in connections
    }
    async with Preparer.open(server) as prep:
        for n in range(rounds):
            line = []
            for endpoint in ENDPOINTS:
                for c in connections:
                    earlier = runs[(endpoint.name, c)]
                    result = await _measure(
                        server,
                        prep,
                        endpoint,
                        connections=c,
                        seconds=seconds,
                        earlier=earlier,
                        workdir=workdir,
                    )
                    earlier.append(result)
                    await log.catch_up()
                    line.append(f"{endpoint.name}/{c} {result.requests_per_second:.0f}/s")
            print(f"  round {n + 1}: " + ", ".join(line), flush=True)
    return [WritesRow(name, c, results) for (name, c), results in runs.items()]


def run_writes(
    server: BenchServer, *, seconds: int, rounds: int, connections: list[int], workdir: Path
) -> WritesResult:
    print(
        f"writes: wrk, 1 thread, {' and '.join(map(str, connections))} connections, "
        f"{rounds} rounds of {seconds} s per endpoint and connection count"
    )
    log = EventLog(server)
    rows = asyncio.run(
        _rounds(
            server, log, seconds=seconds, rounds=rounds, connections=connections, workdir=workdir
        )
    )
    result = WritesResult(rows, seconds, rounds, asyncio.run(check_invariants(server, log)))
    print_writes(result)
    return result


def print_writes(result: WritesResult) -> None:
    for row in result.rows:
        r = row.median
        rounds = ", ".join(f"{run.requests_per_second:.0f}" for run in row.runs)
        cpu = r.cpu_us_per_request
        print(
            f"  {row.endpoint:8} c{row.connections:<3} {r.requests_per_second:7.0f} req/s"
            f" ({rounds})  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:7.1f} ms"
            f"  2xx {r.ok}  other {r.others or 0}  socket errors {r.socket_errors}"
            f"  CPU {cpu or 0:.0f} us/request"
        )
    for problem in result.problems:
        print(f"  NOT A MEASUREMENT OR BROKEN: {problem}")
    if not result.violations:
        print("  invariants: each seat sold at most once, payments == seats sold, every ledger")
        print("  sums to its balance, no admission out of arrival order — all hold")
