"""The benchmark, a layer on top of boxoffice: its server's ceiling route, its report
sections, small ticket drops (on a concert's own line with an opening, and on the
default line) that must sell out with every invariant holding, the checks that
judge a drop, and the drop's, the write run's and the sign-in run's smoke modes end
to end."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.queue.model import DEFAULT_LINE, draw_rank
from boxoffice.queue.scripts import LineKeys
from boxoffice_bench import server_timing
from boxoffice_bench.abuse_report import HEADING
from boxoffice_bench.drop import run_drop
from boxoffice_bench.hotpath import REFERENCE_CEILING, HotPathRow
from boxoffice_bench.invariants import EventLog, admission_order, check_invariants, draw_problems
from boxoffice_bench.opening import JOIN_REFUSED, TOLD_SOLD_OUT, FanLog, Told
from boxoffice_bench.report import rewrite_section
from boxoffice_bench.serve import CEILING_BODY, CEILING_PATH, bench_app
from boxoffice_bench.server import BenchServer
from boxoffice_bench.visit import DropStats, Visit
from boxoffice_bench.writes import ENDPOINTS
from boxoffice_bench.wrk import WrkResult
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.integration.instances import BOXOFFICE, free_port
from tests.support import serve

REPORT = Path(__file__).parents[2] / "docs" / "benchmarks.md"


def _prose(report: str) -> str:
    """The report without its measured sections: what is written by hand."""
    return re.sub(r"<!-- measured: ([\w-]+) -->\n.*?<!-- /measured: \1 -->", "", report, flags=re.S)


@contextmanager
def _bench_server(log: Path, *, capacity: int, per_minute: int) -> Iterator[BenchServer]:
    server = BenchServer(
        POSTGRES_URL,
        REDIS_URL,
        port=free_port(),
        extra_env={
            "BOXOFFICE_ADMISSION_CAPACITY": str(capacity),
            "BOXOFFICE_ADMISSION_PER_MINUTE": str(per_minute),
        },
    )
    server.start(log)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bench_server(tmp_path: Path, postgres_template: str) -> Iterator[BenchServer]:
    with _bench_server(tmp_path / "server.log", capacity=40, per_minute=6000) as server:
        yield server


@pytest.fixture
def paced_server(tmp_path: Path, postgres_template: str) -> Iterator[BenchServer]:
    """At most 120 admissions a minute, far longer than a small drop lasts: of 150
    fans, 30 are still in line when the last seat sells, however the line's close
    races the admissions that follow the last sale."""
    with _bench_server(tmp_path / "server.log", capacity=40, per_minute=120) as server:
        yield server


async def test_the_ceiling_is_the_benchs_own_first_route_and_not_the_products(
    make_settings: Callable[..., Settings],
) -> None:
    async with serve(create_app(make_settings())) as product:
        r = await product.get(CEILING_PATH)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    app = bench_app(make_settings())
    assert getattr(app.router.routes[0], "path", None) == CEILING_PATH
    async with serve(app) as bench:
        r = await bench.get(CEILING_PATH)
        assert (r.status_code, r.json()) == (200, CEILING_BODY)
        assert CEILING_PATH not in (await bench.get("/openapi.json")).json()["paths"]
        assert (await bench.get("/api/v1/concerts")).status_code == 200


def test_a_run_rewrites_its_own_section_and_keeps_the_prose_around_it() -> None:
    text = (
        "# Benchmarks\n\nWhy it is fast.\n\n<!-- measured: writes -->\nold figures\n"
        "<!-- /measured: writes -->\n\nWhat the figures mean.\n"
    )
    rewritten = rewrite_section(text, "writes", ["new figures"])
    assert rewritten == text.replace("old figures", "new figures")
    added = rewrite_section(rewritten, "memory", ["bytes"])
    assert added == rewritten + "\n<!-- measured: memory -->\nbytes\n<!-- /measured: memory -->\n"


def test_a_small_drop_opens_its_line_sells_out_and_tells_everyone_in_line(
    paced_server: BenchServer,
) -> None:
    result = run_drop(
        paced_server, fans=150, rate=100, schedules=1, seats_per_schedule=50, opens_after=0.7
    )
    assert result.failures == []
    assert (result.stats.bought, result.stats.errors) == (50, 0)
    opening = result.opening
    assert opening is not None
    # Some fans waited for the opening, the rest came after it; the draw kept them all.
    assert 0 < opening.pre_queue < 150
    assert opening.entrants == opening.pre_queue
    assert opening.joined_after_opening == 150 - opening.pre_queue
    assert opening.first_admission is not None
    assert 0 < len(opening.waits_pre_queue) <= opening.pre_queue
    # Fans were still in line at the sell-out, and each of them learned it was over
    # rather than polling on for nothing; the 30 the pace never let in were told so
    # (or refused at the door, had they come after the close).
    assert opening.in_line_at_sell_out > 0
    assert len(opening.learned_after_sell_out) == opening.in_line_at_sell_out
    assert opening.learned_by[TOLD_SOLD_OUT] + opening.learned_by[JOIN_REFUSED] >= 30
    assert result.stats.unserved == opening.in_line_at_sell_out


def test_a_small_drop_on_the_default_line_sells_out_with_every_invariant_holding(
    bench_server: BenchServer,
) -> None:
    result = run_drop(
        bench_server, fans=150, rate=100, schedules=1, seats_per_schedule=50, opens_after=None
    )
    assert result.opening is None
    assert result.violations == []
    assert (result.stats.bought, result.stats.errors) == (50, 0)
    assert result.stats.latencies["pay"]
    # The server timed the calls the fans made, route by route: every payment; and of
    # the other calls, those the fans heard back from plus at most one for each fan
    # still unfinished when the sell-out ended the drop (its answer never read).
    timed = {(t.method, t.route): t.requests for t in result.server}
    assert timed[("POST", "/api/v1/payments")] == len(result.stats.latencies["pay"])
    for route, name in (("/api/v1/queue/tokens", "join"), ("/api/v1/reservations", "hold")):
        heard = len(result.stats.latencies[name])
        assert heard <= timed[("POST", route)] <= heard + result.stats.unserved


async def test_the_invariant_check_catches_an_admission_out_of_order(
    bench_server: BenchServer,
) -> None:
    events = LineKeys.of(bench_server.prefix, DEFAULT_LINE).events
    client = Redis.from_url(REDIS_URL)
    for seq in (1, 2, 3):
        client.xadd(events, {"e": "j", "u": seq, "s": seq, "p": seq})
    for seq in (1, 3, 2):
        client.xadd(events, {"e": "a", "u": seq, "s": seq, "t": 0})
    client.close()
    assert await check_invariants(bench_server) == [
        f"line {DEFAULT_LINE}: 1 admissions out of line order"
    ]


async def test_events_read_as_the_run_goes_outlive_the_streams_trim_and_those_not_are_reported(
    bench_server: BenchServer,
) -> None:
    events = LineKeys.of(bench_server.prefix, DEFAULT_LINE).events
    client = Redis.from_url(REDIS_URL)
    log = EventLog(bench_server)
    await log.catch_up()

    def arrive(seq: int, *, keep: int) -> None:  # a stream trimmed to its last ``keep``
        client.xadd(
            events, {"e": "j", "u": seq, "s": seq, "p": seq}, maxlen=keep, approximate=False
        )
        client.xadd(events, {"e": "a", "u": seq, "s": seq, "t": 0}, maxlen=keep, approximate=False)

    for seq in (1, 2, 3):  # read after each fan: the trim takes nothing unread
        arrive(seq, keep=2)
        await log.catch_up()
    assert await check_invariants(bench_server, log) == []
    for seq in (4, 5, 6):  # not read until the end: two fans' events are gone
        arrive(seq, keep=2)
    client.close()
    assert await check_invariants(bench_server, log) == [
        f"line {DEFAULT_LINE}: 4 events trimmed from the stream before they were read: "
        "admission order unchecked for them"
    ]
    # Read only once, at the end: the seed's clear and fans 1 to 5's ten events are gone.
    assert await check_invariants(bench_server) == [
        f"line {DEFAULT_LINE}: 11 events trimmed from the stream before they were read: "
        "admission order unchecked for them"
    ]


def test_the_pre_queue_is_admitted_in_draw_order_then_by_arrival() -> None:
    # Fans 7 and 8 joined before the opening (draw ranks), fans 9 and 10 after it.
    joins = [("7", "1", 0.6), ("8", "2", 0.2), ("9", "3", 3.0), ("10", "4", 4.0)]
    events = [{"e": "j", "u": u, "s": s, "p": str(p)} for u, s, p in joins]

    def admitted(*users: str) -> list[dict[str, str]]:
        seq = {u: s for u, s, _ in joins}
        return [{"e": "a", "u": u, "s": seq[u], "t": "0"} for u in users]

    assert admission_order(events + admitted("8", "7", "9", "10")) == []
    assert admission_order(events + admitted("7", "8", "9", "10")) == [
        "1 admissions out of line order"
    ]
    assert admission_order(events + admitted("8", "9", "7")) == ["1 admissions out of line order"]


def _exposition(route: str, counts: dict[str, int]) -> str:
    """The request-duration histogram of one route, as /metrics shows it."""
    lines = [
        "# HELP boxoffice_http_request_duration_seconds Request time.",
        "# TYPE boxoffice_http_request_duration_seconds histogram",
    ]
    labels = f'method="GET",route="{route}"'
    lines += [
        f'boxoffice_http_request_duration_seconds_bucket{{le="{le}",{labels}}} {n}'
        for le, n in counts.items()
    ]
    lines.append(f"boxoffice_http_request_duration_seconds_count{{{labels}}} {counts['+Inf']}")
    return "\n".join(lines) + "\n"


def test_the_servers_own_timing_is_read_as_the_bounds_of_its_buckets() -> None:
    before = server_timing.parse(
        _exposition("/a", {"0.001": 10, "0.01": 10, "0.1": 10, "+Inf": 10})
    )
    after = server_timing.parse(
        _exposition("/a", {"0.001": 60, "0.01": 105, "0.1": 109, "+Inf": 110})
    )
    [timed] = server_timing.between(before, after)
    # 100 requests in between: 50 within 1 ms, 95 within 10 ms, 99 within 100 ms.
    assert (timed.route, timed.requests) == ("/a", 100)
    assert (timed.p50_at_most, timed.p99_at_most) == (0.001, 0.1)
    slow = server_timing.parse(_exposition("/a", {"0.001": 10, "0.1": 10, "+Inf": 110}))
    [over] = server_timing.between(before, slow)
    assert server_timing.bound_text(over.p99_at_most) == "over the top bucket"
    assert server_timing.between(before, before) == []


def test_a_draw_out_of_its_seeds_order_or_with_a_fan_twice_is_caught() -> None:
    seed, fans = "abc", [11, 12, 13, 14]
    drawn = sorted(fans, key=lambda u: (draw_rank(seed, u), str(u)))
    assert draw_problems(seed, 4, ",".join(map(str, drawn))) == []
    assert draw_problems(seed, 4, ",".join(map(str, reversed(drawn)))) == [
        "the draw's order is not the one its seed gives"
    ]
    twice = [drawn[0], *drawn]
    assert "1 fans drawn more than once" in draw_problems(seed, 5, ",".join(map(str, twice)))
    assert draw_problems(seed, 3, ",".join(map(str, drawn))) == [
        "the draw lists 4 fans but records 3 entrants"
    ]


def test_a_fan_refused_because_the_line_closed_found_nothing_even_before_the_drop_knew() -> None:
    """The line closes within the payment that sells its last seat: a fan refused for
    it before the drop has read that payment's answer is no error."""
    stats = DropStats(seats=1)
    visit = Visit(None, "", stats, 1, Told(opens_at=0.0))  # type: ignore[arg-type]
    closed = {"code": "not_admitted", "detail": "not admitted: the line says SOLD_OUT"}
    other = {"code": "not_admitted", "detail": "not admitted: the line says WAITING"}
    assert visit._turned_away(FanLog(1, 0.0), 403, closed) is False
    assert stats.errors == 0
    assert visit._turned_away(FanLog(2, 0.0), 403, other) is True
    assert stats.errors == 1


def test_answers_against_the_contract_around_the_opening_are_counted() -> None:
    told = Told(opens_at=1_000.0)
    opening = "1970-01-01T00:16:40Z"

    def status(state: str, position: int | None, poll: int = 1, **extra: object) -> dict[str, Any]:
        return {"status": state, "position": position, "pollAfterSeconds": poll, **extra}

    told.heard(status("PRE_QUEUE", None, salesOpenAt=opening), sent=990, received=990.1)
    told.heard(status("WAITING", 3), sent=1_001, received=1_001.1)
    told.heard(status("SOLD_OUT", None, seatsLeft=0), sent=1_002, received=1_002.1)
    assert told.wrong == {}
    told.heard(status("PRE_QUEUE", 4, salesOpenAt=opening), sent=990, received=990.1)
    told.heard(status("PRE_QUEUE", None, poll=15, salesOpenAt=opening), sent=990, received=990.1)
    told.heard(status("ADMITTED", 0), sent=998, received=999)
    told.heard(status("SOLD_OUT", 5, seatsLeft=0), sent=1_002, received=1_002.1)
    assert told.wrong == {
        "a position in the pre-queue": 1,
        "a pre-queue poll due after the opening": 1,
        "ADMITTED before the opening": 1,
        "SOLD_OUT with a position or seats left": 1,
    }


def test_the_drop_smoke_run_opens_a_line_and_rewrites_its_section(
    tmp_path: Path, postgres_template: str
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT.read_text())
    run = subprocess.run(
        [
            *(sys.executable, "-m", "boxoffice_bench", "drop"),
            *("--fans", "150", "--rate", "100", "--schedules", "1", "--opens-after", "0.7"),
            *("--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--report", str(report)),
            *("--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Non-zero when an invariant broke or a fan was told what the contract forbids.
    assert run.returncode == 0, run.stdout + run.stderr
    section = re.search(
        r"<!-- measured: drop -->\n(.*?)<!-- /measured: drop -->", report.read_text(), re.S
    )
    assert section is not None
    text = section.group(1)
    command = "boxoffice bench drop --report {} --fans 150 --rate 100.0 --schedules 1"
    assert f"`{command.format(report)} --opens-after 0.7`" in text
    pre_queue = re.search(r"\*\*([\d,]+) fans in the pre-queue at the opening\*\*", text)
    assert pre_queue is not None and int(pre_queue.group(1)) > 0
    assert "Every answer as the contract says" in text
    assert "Invariants checked from storage afterwards: all hold." in text
    assert (tmp_path / "drop-timeline.png").stat().st_size > 0
    assert _prose(report.read_text()) == _prose(REPORT.read_text())


def test_bench_writes_has_its_own_help() -> None:
    result = subprocess.run(
        [BOXOFFICE, "bench", "writes", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--connections" in result.stdout
    assert "writes" in result.stdout


def test_the_writes_smoke_run_measures_only_2xx_work_and_rewrites_its_section(
    tmp_path: Path, postgres_template: str
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT.read_text())
    run = subprocess.run(
        [
            *(sys.executable, "-m", "boxoffice_bench", "writes"),
            *("--seconds", "2", "--rounds", "1"),
            *("--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--report", str(report)),
            *("--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Non-zero when a measurement's answers were not all 2xx or an invariant broke.
    assert run.returncode == 0, run.stdout + run.stderr
    section = re.search(
        r"<!-- measured: writes -->\n(.*?)<!-- /measured: writes -->", report.read_text(), re.S
    )
    assert section is not None
    assert f"`boxoffice bench writes --report {report} --seconds 2 --rounds 1`" in section.group(1)
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.group(1).splitlines()
        if line.startswith("| ") and not line.startswith("| endpoint ")
    ]
    measured = sorted((row[0], int(row[1])) for row in rows)
    assert measured == sorted((e.name, c) for e in ENDPOINTS for c in (16, 64))
    # Every one answered: 2xx counted, no other answer.
    assert all(int(row[6].replace(",", "")) > 0 and row[7] == "—" for row in rows)
    assert _prose(report.read_text()) == _prose(REPORT.read_text())
    assert "Invariants checked from storage afterwards: all hold." in section.group(1)


def test_the_signin_smoke_run_signs_in_beside_the_polls_and_rewrites_its_section(
    tmp_path: Path, postgres_template: str
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT.read_text())
    run = subprocess.run(
        [
            *(sys.executable, "-m", "boxoffice_bench", "signin"),
            *("--seconds", "2", "--rounds", "1", "--signins-per-second", "10"),
            *("--accounts", "10", "--pollers", "20"),
            *("--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--report", str(report)),
            *("--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Non-zero when the polls were not answered 2xx or a sign-in was neither 200 nor busy.
    assert run.returncode == 0, run.stdout + run.stderr
    section = re.search(
        r"<!-- measured: signin -->\n(.*?)<!-- /measured: signin -->", report.read_text(), re.S
    )
    assert section is not None
    text = section.group(1)
    assert re.search(r"\*\*one hash [\d.]+ ms\*\*", text)
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows == ["status poll", "alone", "during the storm"]
    signed_in = re.search(r"20 sent, \*\*(\d+) signed in \(200\)\*\*", text)
    assert signed_in is not None and int(signed_in.group(1)) > 0
    assert _prose(report.read_text()) == _prose(REPORT.read_text())


def test_the_abuse_smoke_run_caps_the_flooder_refuses_no_fan_and_rewrites_its_section(
    tmp_path: Path, postgres_template: str
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT.read_text())
    run = subprocess.run(
        [
            *(sys.executable, "-m", "boxoffice_bench", "abuse"),
            *("--seconds", "3", "--honest-fans", "10", "--flood-concurrency", "4"),
            *("--levels", "low", "--challenge-samples", "1"),
            # No status-poll run: wrk would poll a smoke run's few tokens far past
            # the poll throttle (the full run polls 5,000 at their pace).
            *("--poll-seconds", "0"),
            *("--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--report", str(report)),
            *("--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Non-zero when a line did not take its settings, a cost could not be measured, or
    # the status polls were not answered 2xx.
    assert run.returncode == 0, run.stdout + run.stderr
    section = re.search(
        r"<!-- measured: abuse -->\n(.*?)<!-- /measured: abuse -->", report.read_text(), re.S
    )
    assert section is not None
    rows = {
        cells[0]: cells
        for line in section.group(1).splitlines()
        if line.startswith("| limits ") and line.count("|") == 10  # the scenarios' table
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    assert list(rows) == [
        "limits off",
        "limits on",
        "limits on, accounts made ahead",
        "limits on, challenge low",
    ]

    def places(name: str) -> int:
        return int(rows[name][5].strip("*").replace(",", ""))

    # The control: with no limits the one address holds more places than the cap.
    assert places("limits off") > 10
    for name in ("limits on", "limits on, accounts made ahead", "limits on, challenge low"):
        assert places(name) <= 10
        assert rows[name][6] == "10/10"
        assert rows[name][8] == "**0**"
    # The prose is kept; a report without the section gets its heading with it.
    before = _prose(REPORT.read_text()).rstrip()
    if "<!-- measured: abuse -->" not in REPORT.read_text():
        before += "\n\n" + HEADING
    assert _prose(report.read_text()).rstrip() == before


def test_a_hot_path_target_is_met_by_its_rate_or_by_its_share_of_the_ceiling() -> None:
    """On a slower phase of the machine a target is judged by the share of the ceiling
    it stands for; below both it is not met."""

    def row(name: str, rate: float, share: float) -> HotPathRow:
        result = WrkResult(name, 16, int(rate * 5), 5.0, 1.0, 2.0, 0, 0)
        return HotPathRow(result=result, share=share, shares=[share], rates=[rate])

    share = 12_000 / REFERENCE_CEILING
    assert row("join", 12_000, 0.10).met  # the rate itself
    assert row("join", 3_000, share + 0.01).met  # a slow machine, the share reached
    assert not row("join", 3_000, share - 0.01).met
    assert row("ceiling", 1, 1.0).met  # no target
