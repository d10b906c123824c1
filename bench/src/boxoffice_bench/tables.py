"""The figures of one run as markdown: each function gives the lines of one measured
section of docs/benchmarks.md."""

from __future__ import annotations

from boxoffice_bench.drop import DropResult, percentile
from boxoffice_bench.hotpath import HotPathRow
from boxoffice_bench.instances import timing_lines
from boxoffice_bench.memory import MemoryResult
from boxoffice_bench.opening import OpeningReport
from boxoffice_bench.startup import SLOWLOG_OVER_USEC
from boxoffice_bench.writes import WritesResult
from boxoffice_bench.wrk import WrkResult

# What the fans' requests during a start-up ask (bench memory).
FAN_REQUESTS = {
    "join": "join (`POST /api/v1/queue/tokens`, a fan not in line yet: a Redis call)",
    "status": "status poll (a fan in line: answered from the mirror)",
}
HOT_NAMES = ("ceiling", "status", "schedules", "seat map", "join")
DROP_PLOT = "drop-timeline.png"


def cpu_text(result: WrkResult) -> str:
    per_request = result.cpu_us_per_request
    return "—" if per_request is None else f"{per_request:,.0f} us"


def hot_path(rows: list[HotPathRow]) -> list[str]:
    lines = [
        "| endpoint | req/s | p50 | p99 | share of ceiling | each round | CPU per request "
        "| target |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        r = row.result
        verdict = (
            "—"
            if row.target is None
            else f"≥ {row.target:,} or {row.target_share or 0:.0%}: "
            f"{'met' if row.met else '**not met**'}"
        )
        lines.append(
            f"| {r.name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms "
            f"| {row.share:.0%} | {row.spread} | {cpu_text(r)} | {verdict} |"
        )
    return lines


def servers(runs: list[tuple[str, list[HotPathRow]]]) -> list[str]:
    """The servers side by side, then each alternative against the default."""
    lines = [
        "| server | " + " | ".join(HOT_NAMES) + " | status p99 | join p99 |",
        "|---|" + "---:|" * (len(HOT_NAMES) + 2),
    ]
    for label, rows in runs:
        by = {row.result.name: row for row in rows}
        cells = [
            f"{by[name].result.requests_per_second:,.0f}"
            + ("" if name == "ceiling" else f" ({by[name].share:.0%})")
            for name in HOT_NAMES
        ]
        lines.append(
            f"| {label} | {' | '.join(cells)} | {by['status'].result.p99_ms:.0f} ms "
            f"| {by['join'].result.p99_ms:.0f} ms |"
        )
    (_, default), *others = runs
    base = {row.result.name: row.result for row in default}
    lines += ["", "Against the default in this run (req/s ratios; the numbers move between runs):"]
    lines.append("")
    for label, rows in others:
        by_name = {row.result.name: row.result for row in rows}
        ratios = ", ".join(
            f"{name} {by_name[name].requests_per_second / base[name].requests_per_second:.2f}x"
            for name in HOT_NAMES
        )
        lines.append(
            f"- {label}: {ratios}; status p99 {by_name['status'].p99_ms:.0f} ms against"
            f" {base['status'].p99_ms:.0f} ms."
        )
    return lines


def writes(result: WritesResult) -> list[str]:
    lines = [
        f"wrk `-t1`, {result.seconds} s per measurement, {result.rounds} interleaved rounds;"
        " the median round, every round's req/s beside it.",
        "",
        "| endpoint | connections | req/s | each round | p50 | p99 | 2xx | other answers "
        "| app CPU per request | app CPU |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for row in result.rows:
        r = row.median
        each = ", ".join(f"{run.requests_per_second:,.0f}" for run in row.runs)
        others = ", ".join(f"{status}: {n:,}" for status, n in r.others.items()) or "—"
        if r.socket_errors:
            others += f"; {r.socket_errors:,} socket errors"
        cores = "—" if r.cpu_seconds is None else f"{r.cpu_seconds / r.seconds:.2f} cores"
        lines.append(
            f"| {row.endpoint} | {row.connections} | {r.requests_per_second:,.0f} | {each} "
            f"| {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms | {r.ok:,} | {others} | {cpu_text(r)} "
            f"| {cores} |"
        )
    if result.problems:
        lines += ["", "**Not a measurement, or an invariant broken:**", ""]
        lines += [f"- {problem}" for problem in result.problems]
    else:
        lines += ["", "Invariants checked from storage afterwards: all hold."]
    return lines


def drop(result: DropResult, *, plot: str | None = None) -> list[str]:
    rows = [
        "| endpoint | calls | calls/s | p50 | p95 | p99 | answers |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, values in result.stats.latencies.items():
        answers = ", ".join(
            f"{status}: {n:,}" for status, n in sorted(result.stats.statuses[name].items())
        )
        rows.append(
            f"| {name} | {len(values):,} | {len(values) / result.seconds:,.1f} "
            f"| {percentile(values, 0.5) * 1000:.1f} ms | {percentile(values, 0.95) * 1000:.1f} ms "
            f"| {percentile(values, 0.99) * 1000:.1f} ms | {answers} |"
        )
    sold_out = (
        f"{result.sold_out_seconds:.1f} s"
        if result.sold_out_seconds
        else "not sold out (more seats than buyers)"
    )
    in_line = (
        "still in line when the last seat sold (or the last fan arrived, if later)"
        if result.opening is None
        else "in line when the last seat sold"
    )
    verdict = "all hold" if not result.violations else "VIOLATED: " + "; ".join(result.violations)
    spread = (
        ""
        if result.instances == 1
        else f" on {result.instances} instances (fan i always on instance i % {result.instances},"
        " as behind a sticky load balancer; one database, one Redis key prefix)"
    )
    lines = [
        f"- {result.fans:,} fans arriving at {result.rate:,.0f}/s{spread} "
        f"for {result.seats:,} seats; "
        f"sold {result.stats.bought:,}; time to sell out: {sold_out}; "
        f"whole run {result.seconds:.1f} s; {in_line}: {result.stats.unserved:,}; "
        f"errors {result.stats.errors}.",
        *([] if result.opening is None else opening(result.opening)),
        f"- Invariants checked from storage afterwards: {verdict}.",
        "",
        *rows,
        *timing_lines(result.server, result.per_instance),
    ]
    if plot is not None:
        lines += ["", f"![Waiting and admitted fans during the drop]({plot})"]
    return lines


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return (
        f"p50 {percentile(values, 0.5):.1f} s, p95 {percentile(values, 0.95):.1f} s, "
        f"max {max(values):.1f} s"
    )


def _group(waits: list[float], of: int) -> str:
    if not waits:
        return f"— (none of {of:,} admitted)"
    return f"{_spread(waits)} ({len(waits):,} of {of:,} admitted)"


def opening(report: OpeningReport) -> list[str]:
    """A concert line's opening and close, as bullets of the drop's section."""
    opened = report.opens_at - report.started_at
    lines = [
        f"- On the concert's own line, opening {opened:.1f} s after the first fan arrived: "
        f"**{report.pre_queue:,} fans in the pre-queue at the opening** (told `PRE_QUEUE`, "
        f"no position); the draw recorded {report.entrants or 0:,} entrants.",
        f"- First admission {_seconds(report.first_admission)} after the opening by the "
        f"line's record; the first fan was told {_seconds(report.first_admitted_seen)} after it.",
        f"- Joining to being told `ADMITTED`: pre-queue fans "
        f"{_group(report.waits_pre_queue, report.pre_queue)}, counted from the opening "
        f"{_spread(report.waits_pre_queue_from_opening)}; fans who joined after the opening "
        f"{_group(report.waits_after_opening, report.joined_after_opening)}.",
        f"- The line's admission to the fan being told of it: pre-queue fans "
        f"{_spread(report.told_late_pre_queue)}; fans who joined after the opening "
        f"{_spread(report.told_late_after_opening)}. **{report.overtaking:,} fans who joined "
        "after the opening were told they were admitted before a pre-queue fan admitted ahead "
        "of them had heard.**",
    ]
    if report.last_sold_at is None:
        lines.append("- Not sold out: the line stayed open.")
    else:
        closed = (
            "never closed"
            if report.line_closed_at is None
            else f"closed (`soldOutAt`) {report.line_closed_at - report.last_sold_at:.2f} s later"
        )
        closed += f", having admitted {report.admitted_after_last_sale:,} more fans meanwhile"
        learned = report.learned_after_sell_out
        last = f"{max(learned):.1f} s" if learned else "—"
        how = ", ".join(f"{how} {n:,}" for how, n in sorted(report.learned_by.items()))
        lines += [
            f"- The last seat sold (its payment's `paidAt`) "
            f"{report.last_sold_at - report.started_at:.1f} s into the run "
            f"and the line {closed}. **{report.in_line_at_sell_out:,} fans were in line then; "
            f"the last of them learned it was sold out {last} after the last seat sold** "
            f"({_spread(learned)}).",
            f"- How fans learned nothing was left: {how or 'nobody had to'}.",
        ]
    if report.problems:
        lines.append("- **Not as the contract says:** " + "; ".join(report.problems) + ".")
    else:
        lines.append(
            "- Every answer as the contract says (before the opening `PRE_QUEUE`, no position, "
            "a poll due by the opening; `SOLD_OUT` with no position and no seat left); nobody "
            "admitted before the opening; every pre-queue fan in the draw exactly once."
        )
    return lines


def memory(result: MemoryResult) -> list[str]:
    mib = 2**20
    lines = [
        f"A line of **{result.fans:,} waiting fans** (the default line, paused: nobody let"
        f" in), filled through the store in {result.fill_seconds:.0f} s, on a redis-server"
        " of the run's own.",
        "",
        f"- Redis: **{result.redis_bytes_per_fan:.0f} bytes per waiting fan** (`used_memory`"
        " before and after the fill).",
        f"- The instance that saw the line fill: RSS {result.rss_before / mib:.0f} MiB before,"
        f" {result.rss_after / mib:.0f} MiB after (its mirror took the joins in from the"
        " stream).",
    ]
    f = result.follow
    if f is not None:
        lines.append(
            f"- That mirror reading the {result.fans:,} join events: {f.xread_calls:,} XREADs,"
            f" **{f.xread_usec / result.fans:.2f} us of Redis per event** per instance"
            f" following; the instance's CPU meanwhile {f.app_cpu_seconds:.1f} s,"
            f" **{f.app_cpu_seconds * 1e6 / result.fans:.0f} us per event** (its tick"
            " included)."
        )
    s = result.startup
    if s is not None:
        synced = "not seen" if s.synced_seconds is None else f"**{s.synced_seconds:.1f} s**"
        lines += [
            f"- A second instance started with the line full: **/readyz after"
            f" {s.ready_seconds:.1f} s**, its mirror synced (its first XREAD) after {synced};"
            f" RSS {s.rss_ready / mib:.0f} MiB when ready, **{s.rss_synced / mib:.0f} MiB"
            f" synced** (peak {s.peak_rss / mib:.0f} MiB): **{result.mirror_bytes_per_fan:.0f}"
            " bytes per fan in a mirror** (against the first instance's RSS with the line"
            " empty). The last fan's position through it:"
            f" {s.last_fan_position if s.last_fan_position is not None else 'no answer'}.",
            f"- Redis calls while it started, from the slow log (recording every call over"
            f" {SLOWLOG_OVER_USEC / 1000:.1f} ms; Redis 7 records a command a script runs as"
            f" an entry of its own too): {s.calls:,} entries;"
            f" **longest {s.longest[0].usec / 1000:.2f} ms**"
            f" ({s.longest[0].command}); over 1 ms: {s.over_1ms}, over 10 ms: {s.over_10ms}."
            f" The load's {s.snapshot_calls:,} `snapshot.lua` pages of waiting fans: median"
            f" {s.snapshot_p50_usec / 1000:.2f} ms, longest {s.snapshot_max_usec / 1000:.2f} ms."
            if s.longest
            else "- Redis calls while it started: none recorded.",
        ]
        if s.by_command:
            longest = sorted(s.by_command, key=lambda kind: -kind[2])[:8]
            lines.append(
                "  The slowest kinds (entries, mean, longest): "
                + "; ".join(
                    f"{k} {n:,}, {t / n / 1000:.2f} ms, {m / 1000:.2f} ms" for k, n, m, t in longest
                )
                + "."
            )
        if s.ping_before is not None and s.ping_during is not None:
            b, d = s.ping_before, s.ping_during
            lines.append(
                "- Another client's PINGs (one at a time), before the start and during it:"
                f" p50 {b.p50_ms:.2f} / {d.p50_ms:.2f} ms, p99 {b.p99_ms:.2f} /"
                f" {d.p99_ms:.2f} ms, longest {b.max_ms:.2f} / {d.max_ms:.2f} ms"
                f" ({b.samples:,} and {d.samples:,} PINGs);"
                f" **{d.over_share:.1%} of those during it slower than the p99 before**."
            )
        for what, (before, during) in s.fans.items():
            if before is None or during is None:
                continue
            request = FAN_REQUESTS.get(what, what)
            lines.append(
                f"- A fan's {request} on the first instance,"
                " one request at a time, before the start and during it:"
                f" p50 {before.p50_ms:.2f} / {during.p50_ms:.2f} ms, **p99 {before.p99_ms:.2f} /"
                f" {during.p99_ms:.2f} ms**, longest {before.max_ms:.2f} / {during.max_ms:.2f} ms"
                f" ({before.samples:,} and {during.samples:,}); {during.over_share:.1%} during"
                " it slower than the p99 before."
            )
    polls = result.polls
    if polls is not None:
        p, (c0, c1) = polls.status, polls.ceilings
        share = p.requests_per_second / ((c0.requests_per_second + c1.requests_per_second) / 2)
        lines.append(
            f"- Status polls on the first instance with the whole line in its mirror (wrk"
            f" `-t1 -c{p.connections}`, {p.seconds:.0f} s, {polls.tokens:,} fans spread evenly"
            f" over the line, round robin): **{p.requests_per_second:,.0f} polls/s**"
            f" ({share:.0%} of the ceiling, {c0.requests_per_second:,.0f} and"
            f" {c1.requests_per_second:,.0f}"
            f" req/s before and after), p99 {p.p99_ms:.1f} ms,"
            f" **{p.cpu_us_per_request or 0:.0f} us of the instance's CPU per poll**, answers"
            f" {', '.join(f'{k}: {v:,}' for k, v in sorted(p.statuses.items()))}; the"
            f" redis-server's CPU meanwhile (the batched liveness writes, the tick):"
            f" **{polls.redis_cpu_seconds * 1e6 / max(1, p.requests):.2f} us per poll**"
            f" ({polls.script_calls:,} script calls)."
        )
    if result.costs:
        lines += [
            "",
            "What Redis spent per item (INFO commandstats: the command's time, a script's"
            " Lua included; and"
            " the redis-server's user+system CPU over the phase, the tick of the instance"
            " included):",
            "",
            "| call | sent together (items per call) | items | command time per item"
            " | Redis CPU per item |",
            "|---|---:|---:|---:|---:|",
        ]
        for c in result.costs:
            what = {
                "join": "join (`join.lua`)",
                "seen": "liveness (`seen.lua`)",
                "zrange": "a draw's page read, by proxy (ZRANGE by index of the waiting set)",
            }.get(c.what, c.what)
            per_call = c.items / max(1, c.calls)
            per = f"{c.usec / max(1, c.calls) / 1000:.2f} ms per call" if c.batch > 1 else ""
            lines.append(
                f"| {what} | {c.batch:,} ({per_call:,.0f}) | {c.items:,} | {c.usec_per_item:.2f} us"
                f"{' (' + per + ')' if per else ''} | {c.cpu_usec_per_item:.2f} us |"
            )
    if result.keys:
        lines += [
            "",
            "The line's keys (MEMORY USAGE, exact) once the run was over:",
            "",
            "| key | MiB | bytes per fan |",
            "|---|---:|---:|",
        ]
        for name, size in result.keys:
            lines.append(f"| `{name}` | {size / mib:.1f} | {size / result.fans:.0f} |")
    return lines
