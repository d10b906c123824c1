"""A long line, measured: what a waiting fan costs Redis (bytes, and Redis CPU per
join and per liveness write), what the line costs an instance's mirror, and what a
fresh instance goes through to take the line in (its start-up until it answers
/readyz and until its mirror is synced, its RSS, the longest Redis call meanwhile, and
what other clients and fans see while it loads: ``startup.py``).

The scenario runs on a redis-server of its own (a free port, nothing saved), so that
its SLOWLOG, its CPU figures and its clients are this run's alone, and the slow log
can be set to record every call over 0.1 ms without touching a Redis anyone else
uses."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from boxoffice.queue.model import DEFAULT_LINE
from boxoffice.queue.redis_store import DRAW_PAGE, RedisQueueStore
from boxoffice.queue.scripts import LineKeys, Scripts
from boxoffice.queue.store import LineMissing, Refused, Seen
from boxoffice_bench.fixtures import Request, write_requests
from boxoffice_bench.serve import CEILING_PATH
from boxoffice_bench.server import BenchServer, cpu_seconds
from boxoffice_bench.startup import (
    FIRST_USER,
    StartUp,
    free_port,
    poll_tokens,
    print_startup,
    start_second,
)
from boxoffice_bench.wrk import WrkResult, run_wrk

# Joins sent together, as many concurrent joins on one instance share one join.lua
# call (the store's batcher): the first few thousand alone and in sixteens, for what a
# join costs Redis in the small batches of ordinary traffic, the rest in thousands.
FILL_BATCHES = ((1, 2_000), (16, 8_000))
FILL_BATCH = 1_000
# Liveness triples per seen.lua call (an instance's flush of its polls' liveness).
SEEN_BATCH = 1_000
# Status polls on the full line: wrk as the hot path runs it, over fans spread evenly.
POLL_TOKENS = 50_000
POLL_SECONDS = 5
POLL_CONNECTIONS = 64
TOKEN_SECONDS = 43_200


@dataclass(frozen=True)
class Cost:
    """What a kind of Redis call cost during one phase (INFO commandstats: EVALSHA,
    or ZRANGE for the draw's proxy; INFO cpu for the whole process)."""

    what: str
    items: int  # joins, liveness triples or members read
    batch: int  # of them sent together (the batcher may split them into more calls)
    calls: int
    usec: int  # the command's time (a script's Lua included), as Redis counts it
    cpu_seconds: float  # Redis's user+system CPU over the phase
    seconds: float  # wall time of the phase

    @property
    def usec_per_item(self) -> float:
        return self.usec / max(1, self.items)

    @property
    def cpu_usec_per_item(self) -> float:
        return self.cpu_seconds * 1e6 / max(1, self.items)


@dataclass(frozen=True)
class Follow:
    """The first instance's mirror taking in the fill's join events from the stream."""

    xread_calls: int
    xread_usec: int  # Redis's time in its XREADs
    app_cpu_seconds: float  # the instance's CPU, from before the fill until idle after it


@dataclass(frozen=True)
class Polls:
    """wrk polling status on the first instance with the whole line in its mirror:
    ``tokens`` fans spread evenly over the line, round robin; the ceiling (the bench's
    bare route) before and after; the Redis CPU the polls' batched liveness cost."""

    tokens: int
    status: WrkResult
    ceilings: tuple[WrkResult, WrkResult]
    redis_cpu_seconds: float  # the redis-server's CPU over the status run
    script_calls: int  # EVALSHA calls meanwhile: the flushes, and the tick's steps


@dataclass(frozen=True)
class MemoryResult:
    fans: int
    redis_bytes_per_fan: float
    rss_before: int
    rss_after: int
    follow: Follow | None = None
    fill_seconds: float = 0.0
    costs: list[Cost] = field(default_factory=list)
    keys: list[tuple[str, int]] = field(default_factory=list)  # key (by role), bytes
    startup: StartUp | None = None
    polls: Polls | None = None

    @property
    def mirror_bytes_per_fan(self) -> float | None:
        """The fresh instance's RSS with its mirror synced, less a fresh instance's
        with the line empty (the first one's before the fill), a fan's share."""
        if self.startup is None:
            return None
        return (self.startup.rss_synced - self.rss_before) / self.fans


# --- a redis-server of the scenario's own ---------------------------------------------


@contextmanager
def own_redis() -> Iterator[str]:
    """A redis-server on a free port, persisting nothing, stopped on the way out; its
    URL. redis-server must be on PATH."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("bench memory starts a redis-server of its own: none on PATH")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", tmp, "--loglevel", "warning"),
            ],
            stdout=(Path(tmp) / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with SyncRedis.from_url(url) as probe:
                        probe.ping()
                    break
                except RedisConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bench's redis-server did not start")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# --- filling the line ------------------------------------------------------------------


async def _evalsha(redis: Redis, command: str = "evalsha") -> tuple[int, int, float]:
    """``command``'s calls and usec so far, and Redis's CPU seconds (user + system)."""
    stats = await redis.info("commandstats")
    cpu = await redis.info("cpu")
    sha = stats.get(f"cmdstat_{command}", {"calls": 0, "usec": 0})
    return int(sha["calls"]), int(sha["usec"]), float(cpu["used_cpu_user"] + cpu["used_cpu_sys"])


class _Phase:
    def __init__(self, redis: Redis, what: str, batch: int, command: str = "evalsha") -> None:
        self.redis, self.what, self.batch, self.command = redis, what, batch, command

    async def __aenter__(self) -> _Phase:
        self.before = await _evalsha(self.redis, self.command)
        self.started = time.monotonic()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.seconds = time.monotonic() - self.started
        self.after = await _evalsha(self.redis, self.command)

    def cost(self, items: int) -> Cost:
        (c0, u0, cpu0), (c1, u1, cpu1) = self.before, self.after
        return Cost(self.what, items, self.batch, c1 - c0, u1 - u0, cpu1 - cpu0, self.seconds)


def _address(i: int) -> str:
    """A fan's own address (each fan one, as many fans as addresses: the line keeps a
    count per address and an entry per fan, so one each is the most they cost)."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


async def _fill(server: BenchServer, fans: int) -> tuple[float, float, list[Cost], Seen]:
    """Fill the default line (paused, so nobody is let in); Redis bytes per fan, the
    fill's seconds, the phases' costs, and the last fan's answer."""
    redis = Redis.from_url(server.redis_url)
    before = (await redis.info("memory"))["used_memory"]
    # The server seeds its default line (its tick does, every second): wait for it.
    keys = LineKeys.of(server.prefix, DEFAULT_LINE)
    for attempt in range(100):
        store = RedisQueueStore(redis, prefix=server.prefix)
        try:
            rules = await store.rules(DEFAULT_LINE)
            await store.configure(DEFAULT_LINE, replace(rules, paused=True))
            break
        except LineMissing:
            if attempt == 99:
                raise
            await asyncio.sleep(0.1)
    expires = int(time.time()) + TOKEN_SECONDS

    async def join(i: int) -> Seen | Refused:
        answer: Seen | Refused = await store.join(
            line=DEFAULT_LINE,
            user_id=FIRST_USER + i,
            jti=f"bench-{i:012d}",
            token_expires_at=expires,
            address=_address(i),
        )
        return answer

    costs, done, last = [], 0, None
    started = time.monotonic()
    for batch, count in (*FILL_BATCHES, (FILL_BATCH, fans)):
        end = min(fans, done + count)
        if end <= done:
            continue
        async with _Phase(redis, "join", batch) as phase:
            for start in range(done, end, batch):
                answers = await asyncio.gather(
                    *(join(i) for i in range(start, min(end, start + batch)))
                )
                last = answers[-1]
        costs.append(phase.cost(end - done))
        done = end
    fill_seconds = time.monotonic() - started
    after = (await redis.info("memory"))["used_memory"]
    # The liveness of every fan's poll once, written as the instances' flushes do.
    scripts = Scripts(redis)
    async with _Phase(redis, "seen", SEEN_BATCH) as phase:
        for start in range(0, fans, SEEN_BATCH):
            args: list[str | int | float] = []
            for i in range(start, min(fans, start + SEEN_BATCH)):
                args += [FIRST_USER + i, f"bench-{i:012d}", "0.2"]
            await scripts.run("seen", keys, *args)
    costs.append(phase.cost(fans))
    # The opening's draw is read back in pages of DRAW_PAGE (ZRANGE by index on the
    # entrants, a sorted set of users as the waiting set is): the same reads here.
    async with _Phase(redis, "zrange", DRAW_PAGE, command="zrange") as phase:
        for start in range(0, fans, DRAW_PAGE):
            await redis.zrange(keys.waiting, start, start + DRAW_PAGE - 1)
    costs.append(phase.cost(fans))
    await redis.aclose()
    assert isinstance(last, Seen)
    return float(after - before) / fans, fill_seconds, costs, last


async def _key_sizes(redis_url: str, prefix: str) -> list[tuple[str, int]]:
    """Each of the run's keys by its role (what follows the line's hash tag), exact
    (MEMORY USAGE ... SAMPLES 0: walks the key; the measurement is over by now)."""
    redis = Redis.from_url(redis_url)
    try:
        sizes = []
        async for key in redis.scan_iter(match=prefix + "*", count=1000):
            usage = await redis.memory_usage(key, samples=0)
            name = key.decode().removeprefix(prefix)
            sizes.append((name, int(usage or 0)))
        return sorted(sizes, key=lambda kv: -kv[1])
    finally:
        await redis.aclose()


def _measure_polls(server: BenchServer, fans: int, workdir: Path) -> Polls:
    tokens = poll_tokens(server, fans, min(fans, POLL_TOKENS))
    requests = write_requests(workdir / "polls.txt", (Request(t) for t in tokens))

    def wrk(name: str, url: str, requests: Path | None = None) -> WrkResult:
        return run_wrk(
            name,
            url,
            seconds=POLL_SECONDS,
            connections=POLL_CONNECTIONS,
            workdir=workdir,
            cpu=server.cpu_seconds,
            requests=requests,
        )

    server.settle()
    before = wrk("ceiling", server.url + CEILING_PATH)
    with SyncRedis.from_url(server.redis_url) as redis:
        cpu0, seen0 = _cpu_and_calls(redis)
        status = wrk("status", f"{server.url}/api/v1/queue/status", requests=requests)
        time.sleep(1)  # the last flush of the polls' liveness
        cpu1, seen1 = _cpu_and_calls(redis)
    after = wrk("ceiling", server.url + CEILING_PATH)
    return Polls(len(tokens), status, (before, after), cpu1 - cpu0, seen1 - seen0)


def _cpu_and_calls(redis: SyncRedis) -> tuple[float, int]:
    """Redis's CPU seconds so far, and EVALSHA calls (the polls make only the
    instance's liveness flushes and its tick's steps)."""
    cpu: Any = redis.info("cpu")
    stats: Any = redis.info("commandstats")
    calls = int(stats.get("cmdstat_evalsha", {"calls": 0})["calls"])
    return float(cpu["used_cpu_user"] + cpu["used_cpu_sys"]), calls


def _wait_idle(server: BenchServer, at_most: float) -> float:
    """Until the server's CPU stays idle for a second (its mirror has taken the line
    in), at most ``at_most`` seconds; the seconds it took."""
    assert server.proc is not None
    started = time.monotonic()
    before = cpu_seconds(server.proc.pid)
    while time.monotonic() - started < at_most:
        time.sleep(1.0)
        now = cpu_seconds(server.proc.pid)
        if now - before < 0.1:
            break
        before = now
    return time.monotonic() - started


def _xread(url: str) -> tuple[int, int]:
    with SyncRedis.from_url(url) as redis:
        stats: Any = redis.info("commandstats")
    xread = stats.get("cmdstat_xread", {"calls": 0, "usec": 0})
    return int(xread["calls"]), int(xread["usec"])


def run_memory(server: BenchServer, *, fans: int) -> MemoryResult:
    print(f"memory: {fans:,} fans joining the line")
    rss_before = server.rss_bytes()
    xread_before, cpu_before = _xread(server.redis_url), server.cpu_seconds()
    per_fan, fill_seconds, costs, last = asyncio.run(_fill(server, fans))
    print(f"  filled in {fill_seconds:.1f} s ({fans / fill_seconds:,.0f} joins/s)")
    for cost in costs:
        print(
            f"  Redis per {cost.what} (batches of {cost.batch}): {cost.usec_per_item:.1f} us "
            f"EVALSHA, {cost.cpu_usec_per_item:.1f} us CPU ({cost.calls:,} calls)"
        )
    took = _wait_idle(server, at_most=600)
    rss_after = server.rss_bytes()
    xread_after = _xread(server.redis_url)
    follow = Follow(
        xread_after[0] - xread_before[0],
        xread_after[1] - xread_before[1],
        server.cpu_seconds() - cpu_before,
    )
    print(
        f"  its mirror took the joins in: {follow.xread_calls:,} XREADs, "
        f"{follow.xread_usec / fans:.2f} us of Redis per event; the instance's CPU "
        f"{follow.app_cpu_seconds * 1e6 / fans:.1f} us per event (tick included)"
    )
    print(
        f"  Redis: {per_fan:.0f} bytes per waiting fan; app RSS {rss_before / 2**20:.0f} MiB "
        f"-> {rss_after / 2**20:.0f} MiB with {fans:,} fans in line (idle after {took:.0f} s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        startup = start_second(server, fans, last, Path(tmp) / "second.log")
    with tempfile.TemporaryDirectory() as tmp:
        polls = _measure_polls(server, fans, Path(tmp))
    p = polls.status
    print(
        f"  status polls on the first instance, {polls.tokens:,} fans over the line: "
        f"{p.requests_per_second:,.0f}/s (ceiling {polls.ceilings[0].requests_per_second:,.0f}"
        f" and {polls.ceilings[1].requests_per_second:,.0f}/s), p99 {p.p99_ms:.1f} ms, "
        f"{p.cpu_us_per_request or 0:.0f} us CPU each, answers {dict(sorted(p.statuses.items()))};"
        f" Redis {polls.redis_cpu_seconds * 1e6 / max(1, p.requests):.2f} us CPU per poll "
        f"({polls.script_calls} script calls)"
    )
    keys = asyncio.run(_key_sizes(server.redis_url, server.prefix))
    result = MemoryResult(
        fans, per_fan, rss_before, rss_after, follow, fill_seconds, costs, keys, startup, polls
    )
    print_startup(startup, result.mirror_bytes_per_fan)
    for name, size in keys:
        print(f"  key {name}: {size / 2**20:.1f} MiB ({size / fans:.0f} bytes per fan)")
    return result
