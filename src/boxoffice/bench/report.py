"""docs/benchmarks.md and its plot, written from one run's numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from boxoffice.bench.drop import DropResult, percentile
from boxoffice.bench.hotpath import HotPathRow
from boxoffice.bench.memory import MemoryResult

WHAT_MATTERED = [
    "What made the difference, each change measured with wrk before and after:",
    "",
    "- `async def` dependencies: FastAPI runs a plain `def` dependency in a worker thread,",
    "  and that hop cost more than the work. Status: 25% of the ceiling to 72%.",
    "- Status reads its request directly (no dependency resolution), echoes the token it",
    "  was shown instead of signing it again, remembers verified tokens and their claims,",
    "  and answers from the per-process mirror of the Redis line: no I/O per poll.",
    "- Gate checks and joins arriving in the same event-loop turn share one Redis script",
    "  call (one admission sweep for a batch of joins). Join: 34% to 38-40%.",
    "- Tokens: PyJWT's HMAC, prepared once, with the JWT framing done by orjson instead of",
    "  `jwt.encode`/`jwt.decode` (options, key checks and the stdlib JSON codec on every",
    "  call): ~110 us to ~17 us per join. Join: 38-40% to 45-55%.",
    "- The shared admission rules are re-read in the background once a second by one",
    "  read, instead of by every request that found them due.",
    "- The objects built at startup are frozen out of the garbage collector's sight",
    "  (`gc.freeze()`): full collections had paused the process ~100 ms every few seconds.",
    "- Seat maps come from a 0.5 s per-process cache filled once per expiry (holds are",
    "  still decided by PostgreSQL), and the route calls the gate itself. Seat map: 6%",
    "  (a query per read) to 29% (cache) to 52% (batched gate, no dependencies).",
    "- Join, status and seat map skip FastAPI's per-request machinery: a `DirectRoute`",
    "  hands the endpoint its request and sends the response it returns (no dependencies",
    "  to solve, no parameters or response to validate; FastAPI still documents the",
    "  route), and they sit on the app itself instead of in an included router, whose",
    "  matching layer (FastAPI 0.165) cost about a fifth of a bare endpoint. CPU per",
    "  request, in process: status 159 to 93 us, seat map 500 to 375 us. The ceiling",
    "  moved onto the app itself too (114 to 94 us), so it stays the barest endpoint.",
    "- Schedule listings (a count over every seat of the concert) come from the same",
    "  cache as seat maps; before, the 1,000-schedule drop spent most of its time there.",
    "- JSON: hot endpoints encode with orjson; the rest use pydantic's Rust serializer.",
]


SERVER_CHOICE = [
    "- `boxoffice serve` stays on uvicorn with the access log on, whatever the table",
    "  says about speed: granian always serves from a child process, and a SIGKILL to",
    "  `granian` leaves that worker serving, orphaned (seen on this machine). In the",
    "  embedded shape the orphan would keep its in-process line while a restarted",
    "  server opened a second one, and fans would be admitted from both. uvicorn with",
    "  one worker serves in the process it was started as. The access log stays on: it",
    "  is the per-request record an operator goes back to after a disputed sale.",
    "- The production shape keeps no state in the process, so an instance may run under",
    "  granian instead where the table shows it ahead (docs/deployment.md says how).",
    "- JSON: orjson for the hot answers (a status body in ~0.4 us against ~4 us for the",
    "  stdlib encoder on this machine).",
]


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(*cmd: str) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
            )
        except (OSError, IndexError):
            return "unknown"

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {version('psql', '--version')}; "
        f"{version('redis-server', '--version')}"
    )


def plot_drop(result: DropResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [p[0] for p in result.stats.timeline]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    ax.plot(t, [p[1] for p in result.stats.timeline], label="waiting")
    ax.plot(t, [p[2] for p in result.stats.timeline], label="admitted")
    ax.plot(t, [p[3] for p in result.stats.timeline], label="seats sold")
    ax.set_xlabel("seconds since the sale opened")
    ax.set_ylabel("fans")
    ax.set_title(f"Ticket drop: {result.fans} fans at {result.rate:.0f}/s for {result.seats} seats")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _hot_table(rows: list[HotPathRow]) -> list[str]:
    lines = [
        "| endpoint | req/s | p50 | p99 | share of ceiling | each round | target |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        r = row.result
        verdict = (
            "—"
            if row.target is None
            else f"≥ {row.target:.0%}: {'met' if row.met else '**not met**'}"
        )
        lines.append(
            f"| {r.name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms "
            f"| {row.share:.0%} | {row.spread} | {verdict} |"
        )
    return lines


def _servers_reading(servers: list[tuple[str, list[HotPathRow]]]) -> list[str]:
    """Each alternative against the default, in this run's req/s."""
    (_, default), *others = servers
    base = {row.result.name: row.result for row in default}
    lines = ["Against the default in this run (req/s ratios; the numbers move between runs):", ""]
    for label, rows in others:
        by = {row.result.name: row.result for row in rows}
        ratios = ", ".join(
            f"{name} {by[name].requests_per_second / base[name].requests_per_second:.2f}x"
            for name in ("ceiling", "status", "seat map", "join")
        )
        lines.append(
            f"- {label}: {ratios}; status p99 {by['status'].p99_ms:.0f} ms against"
            f" {base['status'].p99_ms:.0f} ms."
        )
    return lines


def _servers_table(servers: list[tuple[str, list[HotPathRow]]]) -> list[str]:
    lines = [
        "| server | ceiling | status | seat map | join | status p99 | join p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rows in servers:
        by = {row.result.name: row for row in rows}
        cells = [
            f"{by[name].result.requests_per_second:,.0f}"
            + ("" if name == "ceiling" else f" ({by[name].share:.0%})")
            for name in ("ceiling", "status", "seat map", "join")
        ]
        lines.append(
            f"| {label} | {' | '.join(cells)} | {by['status'].result.p99_ms:.0f} ms "
            f"| {by['join'].result.p99_ms:.0f} ms |"
        )
    return lines


def _drop_table(result: DropResult) -> list[str]:
    rows = [
        "| endpoint | calls | calls/s | p50 | p95 | p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in result.stats.latencies.items():
        rows.append(
            f"| {name} | {len(values):,} | {len(values) / result.seconds:,.1f} "
            f"| {percentile(values, 0.5) * 1000:.1f} ms | {percentile(values, 0.95) * 1000:.1f} ms "
            f"| {percentile(values, 0.99) * 1000:.1f} ms |"
        )
    sold_out = (
        f"{result.sold_out_seconds:.1f} s"
        if result.sold_out_seconds
        else "not sold out (more seats than buyers)"
    )
    verdict = "all hold" if not result.violations else "VIOLATED: " + "; ".join(result.violations)
    return [
        f"- {result.fans:,} fans arriving at {result.rate:,.0f}/s for {result.seats:,} seats; "
        f"sold {result.stats.bought:,}; time to sell out: {sold_out}; "
        f"whole run {result.seconds:.1f} s; "
        "still in line when the last seat sold (or the last fan arrived, if later): "
        f"{result.stats.unserved:,}; "
        f"errors {result.stats.errors}.",
        f"- Invariants checked from storage afterwards: {verdict}.",
        "",
        *rows,
    ]


def write_report(
    path: Path,
    *,
    command: str,
    hot: list[HotPathRow],
    servers: list[tuple[str, list[HotPathRow]]],
    drop: DropResult,
    hot_seats: DropResult,
    spread: DropResult,
    memory: MemoryResult,
    plot: Path,
) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"**Machine:** {_machine()}. One boxoffice process (`boxoffice serve`: uvicorn with",
        "uvloop and httptools, access log on), PostgreSQL and Redis on the same machine as",
        "the load generator, so every number here shares two cores with everything else.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "apt-get install wrk                       # the load generator for the hot path",
        ".venv/bin/pip install -e '.[bench]'      # aiohttp (the drop's fans), matplotlib, granian",
        command,
        "```",
        "",
        "PostgreSQL and Redis must be running (`--postgres-url`, `--redis-url`); each run",
        "creates and drops a database of its own and uses a fresh Redis key prefix.",
        "",
        "## Hot path",
        "",
        "wrk, one thread, 64 connections, against one server process. *Ceiling* is a bare",
        "FastAPI endpoint on the same server returning the same JSON as a status poll; the",
        "other endpoints are measured against it in the same run. *Status* is a waiting",
        "fan's poll; *join* issues a new queue token for a new fan each request; *seat map*",
        "is an admitted fan reading a 50-seat map. This machine's speed drifts from minute",
        "to minute, so the endpoints are measured in rounds with the ceiling measured again",
        "between every two: each endpoint's share is against the mean of the ceilings just",
        "before and after it. The median round is shown, every round's share beside it.",
        "",
        *_hot_table(hot),
        "",
        *WHAT_MATTERED,
        "",
        "### Choosing the server",
        "",
        "The same hot path (median rounds, shares of each server's own ceiling) on the",
        "default and on the alternatives, one after the other in this run:",
        "",
        *_servers_table(servers),
        "",
        *_servers_reading(servers),
        "",
        *SERVER_CHOICE,
        "",
        "## Ticket drop",
        "",
        "An open model: fans arrive at a fixed rate whether or not earlier fans have been",
        "answered, poll status at the interval the server gives them, and once admitted",
        "list schedules, read a seat map, hold a random free seat (another on a 409) and",
        "pay. Fans were registered and charged before the sale.",
        "",
        *_drop_table(drop),
        "",
        f"![Waiting and admitted fans during the drop]({plot.name})",
        "",
        "### Hold and pay when every fan wants the same 50 seats",
        "",
        *_drop_table(hot_seats),
        "",
        "### Hold and pay spread over 1,000 schedules",
        "",
        *_drop_table(spread),
        "",
        "## Memory",
        "",
        f"- Redis: **{memory.redis_bytes_per_fan:.0f} bytes per waiting fan** "
        f"({memory.fans:,} fans joined).",
        f"- App RSS: {memory.rss_before / 2**20:.0f} MiB before, "
        f"**{memory.rss_after / 2**20:.0f} MiB with {memory.fans:,} fans in line** "
        "(the per-process mirror of the line included).",
        "",
    ]
    path.write_text("\n".join(lines))
