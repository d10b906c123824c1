"""Sign-ins during a sale: what one argon2id hash costs, and whether a storm of
sign-ins at a sale's opening stalls the status polls of the fans already in line.

Each sign-in is a hash the server runs in its password pool (``PASSWORD_WORKERS``
threads, ``PASSWORD_QUEUE`` waiting at most, 503 busy past it), so the event loop
that answers the polls should only lose the core the pool takes. wrk polls status
alone, then again while a client of the bench's own signs in at a fixed rate
(correct passwords, spread over many accounts, so no failed-sign-in limit is met);
the two alternate in rounds and the median round of each is reported."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import aiohttp
import httpx

from boxoffice.config import Settings
from boxoffice.users.passwords import HASHER
from boxoffice_bench.drop import percentile
from boxoffice_bench.fixtures import Request, make_fans, write_requests
from boxoffice_bench.server import BenchServer
from boxoffice_bench.tables import cpu_text
from boxoffice_bench.wrk import WrkResult, run_wrk

# One fan admitted and the rest waiting, still in line however long the set-up takes.
SIGNIN_ENV = {
    "BOXOFFICE_ADMISSION_CAPACITY": "1",
    "BOXOFFICE_WAITER_TIMEOUT_SECONDS": "3600",
}
PASSWORD = "bench-sign-in-0123"
CONNECTIONS = 64
SAMPLES = 50
AT_ONCE = 16  # sign-ups and joins in flight while preparing
BUSY = 503


@dataclass(frozen=True)
class Timing:
    """Milliseconds of one call to the hasher, in process."""

    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        return cls(median(seconds) * 1000, percentile(seconds, 0.95) * 1000)


@dataclass(frozen=True)
class Storm:
    """One storm's sign-ins: each answer's status (None: no answer) and its latency,
    from the moment it was due to be sent."""

    rate: float
    answers: list[tuple[int | None, float]]

    @property
    def statuses(self) -> Counter[int | None]:
        return Counter(status for status, _ in self.answers)

    def count(self, status: int) -> int:
        return self.statuses[status]

    @property
    def others(self) -> dict[str, int]:
        return {
            str(status or "no answer"): n
            for status, n in self.statuses.items()
            if status not in (200, BUSY)
        }

    def latency_ms(self, q: float, status: int = 200) -> float:
        return percentile([s for code, s in self.answers if code == status], q) * 1000


@dataclass(frozen=True)
class SignInResult:
    hash: Timing
    verify: Timing
    workers: int
    queue: int
    accounts: int
    pollers: int
    seconds: int
    rounds: list[tuple[WrkResult, WrkResult, Storm]]

    def _median_round(self, during: bool) -> tuple[WrkResult, WrkResult, Storm]:
        ordered = sorted(self.rounds, key=lambda r: (r[1] if during else r[0]).requests_per_second)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def alone(self) -> WrkResult:
        return self._median_round(during=False)[0]

    @property
    def during(self) -> WrkResult:
        return self._median_round(during=True)[1]

    @property
    def storm(self) -> Storm:
        """The storm that ran beside the median round of polls during one."""
        return self._median_round(during=True)[2]

    @property
    def problems(self) -> list[str]:
        found = []
        for alone, during, storm in self.rounds:
            for polls in (alone, during):
                if polls.ok < polls.requests * 0.99 or polls.socket_errors:
                    found.append(f"status polls answered {polls.others}, {polls.socket_errors}")
            if storm.others:
                found.append(f"sign-ins answered {storm.others}")
        return found


def time_hasher(samples: int = SAMPLES) -> tuple[Timing, Timing]:
    """One hash and one verify with the server's own hasher, ``samples`` of each."""
    hashes, verifies = [], []
    hashed = HASHER.hash(PASSWORD)
    for _ in range(samples):
        start = time.perf_counter()
        hashed = HASHER.hash(PASSWORD)
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        HASHER.verify(hashed, PASSWORD)
        verifies.append(time.perf_counter() - start)
    return Timing.of(hashes), Timing.of(verifies)


def _email(n: int) -> str:
    return f"fan{n}@bench.example"


async def _prepare(server: BenchServer, *, accounts: int, pollers: int) -> list[str]:
    """Sign ``accounts`` up through the API (a hash each), and put ``pollers`` fans in
    line; their queue tokens."""
    gate = asyncio.Semaphore(AT_ONCE)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:

        async def sign_up(n: int) -> None:
            async with gate:
                answer = await client.post(
                    "/api/v1/accounts",
                    json={"email": _email(n), "password": PASSWORD, "name": f"Fan {n}"},
                )
            answer.raise_for_status()

        async def join(access: str) -> str:
            async with gate:
                answer = await client.post(
                    "/api/v1/queue/tokens", headers={"Authorization": f"Bearer {access}"}
                )
            answer.raise_for_status()
            return str(answer.json()["token"])

        await asyncio.gather(*(sign_up(n) for n in range(accounts)))
        fans = await make_fans(server.database_url, pollers)
        return list(await asyncio.gather(*(join(access) for _, access in fans)))


async def _storm(url: str, *, rate: float, seconds: int, accounts: int, first: int) -> Storm:
    """Sign-ins at ``rate`` a second for ``seconds``, each sent when due whatever the
    ones before it are doing (an open loop: a slow server does not slow the storm)."""
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = loop.time()

        async def one(n: int) -> tuple[int | None, float]:
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            body = {"email": _email((first + n) % accounts), "password": PASSWORD}
            try:
                async with session.post(f"{url}/api/v1/sessions", json=body) as answer:
                    await answer.read()
                    return answer.status, loop.time() - due
            except (aiohttp.ClientError, TimeoutError):
                return None, loop.time() - due

        answers = await asyncio.gather(*(one(n) for n in range(int(rate * seconds))))
    return Storm(rate, list(answers))


def run_signin(
    server: BenchServer,
    *,
    seconds: int,
    rounds: int,
    rate: float,
    accounts: int,
    pollers: int,
    workdir: Path,
) -> SignInResult:
    hash_, verify = time_hasher()
    print(
        f"signin: argon2id in process, {SAMPLES} each: hash {hash_.median_ms:.1f} ms"
        f" (p95 {hash_.p95_ms:.1f}), verify {verify.median_ms:.1f} ms (p95 {verify.p95_ms:.1f})"
    )
    tokens = asyncio.run(_prepare(server, accounts=accounts, pollers=pollers))
    polls = write_requests(workdir / "status.txt", (Request(token) for token in tokens))
    print(
        f"  {accounts} accounts signed up, {pollers} fans in line; wrk {CONNECTIONS}"
        f" connections on status, {seconds} s alone then {seconds} s with {rate:.0f}"
        f" sign-ins/s, {rounds} rounds"
    )

    def poll(name: str) -> WrkResult:
        return run_wrk(
            name,
            f"{server.url}/api/v1/queue/status",
            seconds=seconds,
            connections=CONNECTIONS,
            requests=polls,
            workdir=workdir,
            cpu=server.cpu_seconds,
        )

    results = []
    with ThreadPoolExecutor(max_workers=1) as storms:
        for n in range(rounds):
            server.settle()
            alone = poll("alone")
            server.settle()
            storming = storms.submit(
                asyncio.run,
                _storm(server.url, rate=rate, seconds=seconds, accounts=accounts, first=n * 7919),
            )
            during = poll("during")
            storm = storming.result()
            results.append((alone, during, storm))
            print_round(n, alone, during, storm)
    settings = Settings.model_fields
    return SignInResult(
        hash=hash_,
        verify=verify,
        workers=int(settings["password_workers"].default),
        queue=int(settings["password_queue"].default),
        accounts=accounts,
        pollers=pollers,
        seconds=seconds,
        rounds=results,
    )


def _cores(result: WrkResult) -> str:
    return f"{(result.cpu_seconds or 0) / result.seconds:.2f} cores" if result.seconds else "—"


def print_round(n: int, alone: WrkResult, during: WrkResult, storm: Storm) -> None:
    polls = [
        f"{r.name} {r.requests_per_second:.0f}/s p50 {r.p50_ms:.2f} ms p99 {r.p99_ms:.1f} ms"
        f" ({_cores(r)})"
        for r in (alone, during)
    ]
    print(
        f"  round {n + 1}: status {'; '.join(polls)}; sign-ins {len(storm.answers)}:"
        f" {storm.count(200)} ok, {storm.count(BUSY)} busy, others {storm.others or 'none'},"
        f" ok p50 {storm.latency_ms(0.5):.0f} ms p99 {storm.latency_ms(0.99):.0f} ms",
        flush=True,
    )


def _many(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


def signin_table(result: SignInResult) -> list[str]:
    h, v, storm = result.hash, result.verify, result.storm
    lines = [
        "argon2id as the server hashes (argon2-cffi; 2 passes, 19 MiB, 1 lane), in process,"
        f" {SAMPLES} of each: **one hash {h.median_ms:.1f} ms** (p95 {h.p95_ms:.1f} ms),"
        f" **one verify {v.median_ms:.1f} ms** (p95 {v.p95_ms:.1f} ms).",
        "",
        f"Status polls by wrk (`-t1`, {CONNECTIONS} connections, {result.pollers:,} fans in"
        f" line), {result.seconds} s alone then {result.seconds} s while"
        f" {storm.rate:.0f} sign-ins a second arrive (correct passwords over"
        f" {result.accounts:,} accounts; the server's password pool:"
        f" {_many(result.workers, 'thread')}, at most {result.queue} waiting), alternated in"
        f" {_many(len(result.rounds), 'round')};"
        " the median round of each. Server CPU: user plus system, all threads.",
        "",
        "| status poll | req/s | p50 | p99 | server CPU | CPU per poll | each round (req/s, p99) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    alone = [run for run, _, _ in result.rounds]
    during = [run for _, run, _ in result.rounds]
    for label, r, runs in (
        ("alone", result.alone, alone),
        ("during the storm", result.during, during),
    ):
        rounds = ", ".join(f"{run.requests_per_second:,.0f} / {run.p99_ms:.1f} ms" for run in runs)
        cores = (r.cpu_seconds or 0) / r.seconds if r.seconds else 0.0
        lines.append(
            f"| {label} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.1f} ms "
            f"| {cores:.2f} cores | {cpu_text(r)} | {rounds} |"
        )
    others = ", ".join(f"{n} {status}" for status, n in storm.others.items()) or "none"
    lines += [
        "",
        f"The sign-ins beside the median round: {len(storm.answers):,} sent,"
        f" **{storm.count(200):,} signed in (200)**, {storm.count(BUSY):,} busy (503),"
        f" other answers: {others}. Signed in: p50 {storm.latency_ms(0.5):,.0f} ms,"
        f" p95 {storm.latency_ms(0.95):,.0f} ms, p99 {storm.latency_ms(0.99):,.0f} ms"
        " from when each was due"
        + (
            f"; busy answered in p50 {storm.latency_ms(0.5, BUSY):,.0f} ms."
            if storm.count(BUSY)
            else "."
        ),
    ]
    return lines
