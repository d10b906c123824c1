"""A second instance started with a long line in Redis, watched from outside (for
``bench memory``): its start-up until it answers /readyz and until its mirror is
synced, its RSS, every Redis call over 0.1 ms meanwhile (the slow log), and what the
others see while it loads: another Redis client's PINGs, and fans' joins and status
polls on the first instance, before the start and during it.

How a mirror's sync is seen from outside: a mirror reads its lines' event streams
(``XREAD ... BLOCK``) only once a line is loaded (``mirror.py``), so the first XREAD
from a connection the new instance opened is the moment its line is in. Redis's
CLIENT LIST names each client's last command; the new instance's clients are those
with an id above every id Redis had given out before it started."""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import httpx
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from boxoffice.queue.model import DEFAULT_LINE
from boxoffice.queue.scripts import LineKeys, Scripts
from boxoffice.queue.store import Seen
from boxoffice.tokens import QueueClaims, TokenSigner
from boxoffice_bench.fixtures import make_fans
from boxoffice_bench.server import SECRET_KEY, BenchServer

# How often the start-up of the second instance is looked at.
LOOK_EVERY_SECONDS = 0.02
START_AT_MOST_SECONDS = 600.0
# The others' latency is measured this long before the start, as the baseline.
BEFORE_SECONDS = 5.0
# The slow log records every call over this while the second instance starts: a
# threshold of 0 would also record each command a script runs (Redis 7 does), a
# million HGETs for a line of a million, and slow the load it measures.
SLOWLOG_OVER_USEC = 100
SLOWLOG_MAX_LEN = 100_000
# Fans on the first instance meanwhile: a join (of a fan not in line yet) and a status
# poll (of a fan in line, spread over it), one request at a time, then this pause.
FAN_PAUSE_SECONDS = 0.005
FAN_JOINERS = 8_000
FAN_POLLERS = 2_000
# The fill's first fan (memory.py fills the line from here).
FIRST_USER = 10_000_000


@dataclass(frozen=True)
class SlowCall:
    usec: int
    command: str  # a script's step name for an EVALSHA of one


@dataclass(frozen=True)
class Latency:
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_ms: float = 0.0  # a threshold (another sample's p99), and...
    over_share: float = 0.0  # ...the share of these samples slower than it

    @staticmethod
    def of(seconds: list[float], over_ms: float = 0.0) -> Latency | None:
        got = sorted(seconds)
        if not got:
            return None
        over = sum(s * 1e3 > over_ms for s in got) / len(got) if over_ms else 0.0
        return Latency(
            len(got),
            got[len(got) // 2] * 1e3,
            got[min(len(got) - 1, int(len(got) * 0.99))] * 1e3,
            got[-1] * 1e3,
            over_ms,
            over,
        )


@dataclass(frozen=True)
class StartUp:
    """A second instance started with the line full."""

    ready_seconds: float  # from its start until /readyz answered 200
    synced_seconds: float | None  # until its mirror's first XREAD (None: not seen)
    rss_ready: int
    rss_synced: int
    peak_rss: int  # VmHWM once synced
    calls: int  # Redis calls over SLOWLOG_OVER_USEC the slow log recorded meanwhile
    longest: list[SlowCall]  # the longest few, longest first
    over_1ms: int
    over_10ms: int
    snapshot_calls: int  # snapshot.lua calls over SLOWLOG_OVER_USEC: every page of waiting fans
    snapshot_p50_usec: float
    snapshot_max_usec: int
    ping_before: Latency | None  # another client's PINGs, before the start
    ping_during: Latency | None  # ...and while the instance started and loaded
    last_fan_position: int | None  # the last fan's position as the new instance told it
    # Each command (a script by its step): entries, the longest and the total usec.
    by_command: list[tuple[str, int, int, int]]
    # Fans on the first instance, by request ('join', 'status'): before, during.
    fans: dict[str, tuple[Latency | None, Latency | None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int, field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


class _Probe:
    """A thread timing something over and over: (when, what, seconds) of each."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.samples: list[tuple[float, str, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def between(
        self, start: float, end: float, what: str = "ping", over: Latency | None = None
    ) -> Latency | None:
        got = [s for t, w, s in self.samples if w == what and start <= t < end]
        return Latency.of(got, over.p99_ms if over else 0.0)


class _PingProbe(_Probe):
    """Another Redis client's view: a PING at a time, each one's round trip."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url

    def _run(self) -> None:
        with SyncRedis.from_url(self._url) as redis:
            while not self._stop.is_set():
                t = time.monotonic()
                redis.ping()
                self.samples.append((t, "ping", time.monotonic() - t))
                time.sleep(0.002)


class _FanProbe(_Probe):
    """Fans on an instance: a join of a fan not in line yet, then a status poll of one
    in line, one request at a time; an answer other than 200/201 is counted apart."""

    def __init__(self, url: str, joiners: list[str], pollers: list[str]) -> None:
        super().__init__()
        self._url, self._joiners, self._pollers = url, joiners, pollers
        self.failed = 0

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=30) as client:
            for i in range(len(self._joiners)):
                if self._stop.is_set():
                    return
                for what, method, path, token in (
                    ("join", "POST", "/api/v1/queue/tokens", self._joiners[i]),
                    (
                        "status",
                        "GET",
                        "/api/v1/queue/status",
                        self._pollers[i % len(self._pollers)],
                    ),
                ):
                    t = time.monotonic()
                    answer = client.request(
                        method, path, headers={"Authorization": f"Bearer {token}"}
                    )
                    self.samples.append((t, what, time.monotonic() - t))
                    self.failed += answer.status_code not in (200, 201)
                time.sleep(FAN_PAUSE_SECONDS)


def poll_tokens(server: BenchServer, fans: int, count: int) -> list[str]:
    """Queue tokens of ``count`` fans spread evenly over the line, signed from their
    tickets as Redis keeps them (jti|seq|iat|exp|address)."""
    keys = LineKeys.of(server.prefix, DEFAULT_LINE)
    step = max(1, fans // count)
    users = [FIRST_USER + i for i in range(0, fans, step)][:count]
    signer = TokenSigner(SECRET_KEY)
    tokens = []
    with SyncRedis.from_url(server.redis_url, decode_responses=True) as redis:
        for start in range(0, len(users), 1_000):
            chunk = users[start : start + 1_000]
            packed: Any = redis.hmget(keys.tickets, chunk)
            for user, ticket in zip(chunk, packed, strict=True):
                jti, seq, iat, exp = str(ticket).split("|")[:4]
                claims = QueueClaims(user, jti, int(seq), int(iat), int(exp))
                tokens.append(signer.queue_token(claims))
    return tokens


def _script_names() -> dict[str, str]:
    """Each step's SHA, as the store sends it: its name."""
    scripts = Scripts(Redis())  # only its SHAs are read; it connects to nothing
    return {script.sha: name for name, script in scripts._steps.items()}


def _last_fan_position(url: str, seen: Seen) -> int | None:
    t = seen.ticket
    claims = QueueClaims(t.user_id, t.jti, t.seq, t.issued_at, t.token_expires_at)
    token = TokenSigner(SECRET_KEY).queue_token(claims)
    r = httpx.get(
        f"{url}/api/v1/queue/status", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    if r.status_code != 200:
        print(f"  the last fan's status through the new instance: {r.status_code} {r.text}")
        return None
    position = r.json().get("position")
    return None if position is None else int(position)


@dataclass
class _Watch:
    ready: float | None = None
    synced: float | None = None
    rss_ready: int = 0
    rss_synced: int = 0


def _watch(
    proc: subprocess.Popen[bytes], url: str, redis: SyncRedis, highest: int, log: Path
) -> _Watch:
    """Until the instance answers /readyz and its mirror reads the stream (a client of
    its, an id above ``highest``, whose last command is an XREAD)."""
    started, seen, mine = time.monotonic(), _Watch(), int(redis.client_id())
    while seen.synced is None or seen.ready is None:
        if time.monotonic() - started > START_AT_MOST_SECONDS:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"the second instance exited:\n{log.read_text()}")
        if seen.ready is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    seen.ready, seen.rss_ready = time.monotonic() - started, rss(proc.pid)
            except httpx.HTTPError:
                pass
        if seen.synced is None and any(
            int(c["id"]) > highest and int(c["id"]) != mine and c["cmd"] == "xread"
            for c in redis.client_list()
        ):
            seen.synced, seen.rss_synced = time.monotonic() - started, rss(proc.pid)
        time.sleep(LOOK_EVERY_SECONDS)
    return seen


def start_second(server: BenchServer, fans: int, last: Seen, log: Path) -> StartUp:
    """A second instance on the same database and key space, started now; watched
    until its mirror reads the stream, with every Redis call meanwhile in the slow log,
    PINGs from another client and fans on the first instance before and during it."""
    second = replace(server, port=free_port(), proc=None)
    joiners = [a for _, a in asyncio.run(make_fans(server.database_url, FAN_JOINERS))]
    pollers = poll_tokens(server, fans, min(fans, FAN_POLLERS))
    redis = SyncRedis.from_url(server.redis_url, decode_responses=True)
    saved = redis.config_get("slowlog-*")
    redis.config_set("slowlog-log-slower-than", SLOWLOG_OVER_USEC)
    redis.config_set("slowlog-max-len", SLOWLOG_MAX_LEN)
    try:
        with _PingProbe(server.redis_url) as ping, _FanProbe(server.url, joiners, pollers) as fan:
            time.sleep(BEFORE_SECONDS)
            highest = max(int(c["id"]) for c in redis.client_list())
            redis.slowlog_reset()
            started = time.monotonic()
            env = second.env
            proc = subprocess.Popen(
                second._command(env), env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            try:
                seen = _watch(proc, second.url, redis, highest, log)
                end = time.monotonic()
                position = _last_fan_position(second.url, last) if seen.synced else None
                time.sleep(1)
                entries = redis.slowlog_get(SLOWLOG_MAX_LEN)
                peak = rss(proc.pid, "VmHWM")
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        before = ping.between(started - BEFORE_SECONDS, started)
        by_fans = {}
        for what in ("join", "status"):
            fans_before = fan.between(started - BEFORE_SECONDS, started, what)
            by_fans[what] = (fans_before, fan.between(started, end, what, fans_before))
        if fan.failed:
            print(f"  fans' requests answered neither 200 nor 201: {fan.failed}")
    finally:
        for name, value in saved.items():
            redis.config_set(str(name), str(value))
        redis.close()
    return _startup(
        seen,
        peak,
        entries,
        (before, ping.between(started, end, "ping", before)),
        position,
        by_fans,
    )


def _startup(
    seen: _Watch,
    peak: int,
    entries: list[Any],
    pings: tuple[Latency | None, Latency | None],
    position: int | None,
    fans: dict[str, tuple[Latency | None, Latency | None]],
) -> StartUp:
    names = _script_names()
    calls: list[SlowCall] = []
    for entry in entries:
        command = entry["command"]
        if isinstance(command, bytes):
            command = command.decode(errors="replace")
        words = str(command).split()
        head = words[0].lower() if words else "?"
        name = names.get(words[1], "a script") if head == "evalsha" and len(words) > 1 else head
        calls.append(SlowCall(int(entry["duration"]), name))
    calls.sort(key=lambda c: -c.usec)
    snapshots = [c.usec for c in calls if c.command == "snapshot"]
    kinds: dict[str, tuple[int, int, int]] = {}
    for c in calls:
        n, most, total = kinds.get(c.command, (0, 0, 0))
        kinds[c.command] = (n + 1, max(most, c.usec), total + c.usec)
    return StartUp(
        ready_seconds=seen.ready if seen.ready is not None else float("nan"),
        synced_seconds=seen.synced,
        rss_ready=seen.rss_ready,
        rss_synced=seen.rss_synced,
        peak_rss=peak,
        calls=len(calls),
        longest=calls[:5],
        over_1ms=sum(c.usec > 1_000 for c in calls),
        over_10ms=sum(c.usec > 10_000 for c in calls),
        snapshot_calls=len(snapshots),
        snapshot_p50_usec=statistics.median(snapshots) if snapshots else 0.0,
        snapshot_max_usec=max(snapshots, default=0),
        ping_before=pings[0],
        ping_during=pings[1],
        last_fan_position=position,
        by_command=sorted(((k, *v) for k, v in kinds.items()), key=lambda x: -x[1]),
        fans=fans,
    )


def print_startup(s: StartUp, mirror_bytes_per_fan: float | None) -> None:
    print(
        f"  a second instance: /readyz after {s.ready_seconds:.2f} s, mirror synced after "
        f"{s.synced_seconds if s.synced_seconds is not None else float('nan'):.2f} s; RSS "
        f"{s.rss_ready / 2**20:.0f} MiB ready, {s.rss_synced / 2**20:.0f} MiB synced "
        f"(peak {s.peak_rss / 2**20:.0f} MiB): "
        f"{mirror_bytes_per_fan or 0:.0f} bytes per fan in its mirror"
    )
    print(
        f"  Redis calls over {SLOWLOG_OVER_USEC} us meanwhile: {s.calls:,}, longest "
        + ", ".join(f"{c.command} {c.usec:,} us" for c in s.longest)
        + f"; over 1 ms: {s.over_1ms}, over 10 ms: {s.over_10ms}; snapshot pages "
        f"{s.snapshot_calls:,}, median {s.snapshot_p50_usec:.0f} us, "
        f"longest {s.snapshot_max_usec} us"
    )
    for what, (before, during) in (
        ("another client's PING", (s.ping_before, s.ping_during)),
        *((f"a fan's {k} on the first instance", v) for k, v in s.fans.items()),
    ):
        if before and during:
            print(
                f"  {what} p50/p99/max: before {before.p50_ms:.2f}/{before.p99_ms:.2f}/"
                f"{before.max_ms:.2f} ms ({before.samples:,}), during {during.p50_ms:.2f}/"
                f"{during.p99_ms:.2f}/{during.max_ms:.2f} ms ({during.samples:,}); "
                f"{during.over_share:.1%} during slower than the p99 before"
            )
    print(
        "  by command (entries, mean us, longest us): "
        + ", ".join(f"{k} {n:,} {t / n:,.0f} {m:,}" for k, n, m, t in s.by_command)
    )
    print(f"  the last fan's position through it: {s.last_fan_position}")
